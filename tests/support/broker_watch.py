"""Watching what the broker (and its plugin, rig/broker_plugin/buttonrig_auth.c) does to a paho
device."""

from __future__ import annotations

import threading

from rig.mqtt.device_client import DeviceClient

WAIT_S = 20.0


def dropped(client: DeviceClient) -> threading.Event:
    """Set when the client's connection ends; it does not reconnect within the test."""
    gone = threading.Event()
    client.client.on_disconnect = lambda *_args: gone.set()
    client.client.reconnect_delay_set(60, 60)  # watch one connection, not a reconnect loop
    return gone
