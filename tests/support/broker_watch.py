"""Watching what the broker and its enforcer do to a paho device (rig/cloud/auth/enforcer.py)."""

from __future__ import annotations

import threading
import time

from rig.cloud.runtime import CloudRuntime
from rig.mqtt.device_client import DeviceClient

WAIT_S = 20.0


def dropped(client: DeviceClient) -> threading.Event:
    """Set when the client's connection ends; it does not reconnect within the test."""
    gone = threading.Event()
    client.client.on_disconnect = lambda *_args: gone.set()
    client.client.reconnect_delay_set(60, 60)  # watch one connection, not a reconnect loop
    return gone


def kicked(cloud: CloudRuntime, client_id: str, timeout: float = WAIT_S) -> bool:
    """Whether the enforcer disconnected `client_id` (recorded once its takeover has ended)."""
    enforcer = cloud.enforcer
    assert enforcer is not None
    deadline = time.monotonic() + timeout
    while client_id not in enforcer.kicked:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
