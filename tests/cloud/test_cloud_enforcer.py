"""A request the broker denies gets the device disconnected, as AWS IoT does
(rig/cloud/auth/enforcer.py; docs/cloud-decisions.md): paho devices against the real broker and cloud."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from rig.cloud.auth.enforcer import denied_clients, refused_clients
from rig.cloud.runtime import CloudRuntime
from rig.mqtt.device_client import DeviceClient

WAIT_S = 20.0


def watch_disconnect(device: DeviceClient) -> threading.Event:
    gone = threading.Event()
    device.client.on_disconnect = lambda *_args: gone.set()
    return gone


def test_publish_outside_the_policy_disconnects_inside_stays(
    device: Callable[..., DeviceClient], cloud: CloudRuntime
) -> None:
    allowed, denied = device("enforce-allowed"), device("enforce-denied")
    allowed_gone, denied_gone = watch_disconnect(allowed), watch_disconnect(denied)

    allowed.publish("$aws/things/enforce-allowed/shadow/get", b"", qos=1)
    denied.publish("iotbutton/someone-else", b"{}", qos=1)  # PUBACKed by mosquitto, then...

    assert denied_gone.wait(WAIT_S), "not disconnected after a publish outside its policy"
    # The enforcer reads the broker's log in order: the allowed publish was looked at first.
    assert not allowed_gone.is_set(), "disconnected after a publish its policy allows"
    assert allowed.client.is_connected()
    enforcer = cloud.enforcer
    assert enforcer is not None
    deadline = time.monotonic() + WAIT_S
    while "enforce-denied" not in enforcer.kicked:  # recorded once its takeover has ended
        assert time.monotonic() < deadline, f"kicked: {enforcer.kicked}"
        time.sleep(0.02)
    assert "enforce-allowed" not in enforcer.kicked, enforcer.kicked


def test_denied_lines_name_each_client_once_and_never_the_cloud() -> None:
    lines = [
        "2026-11-22T04:10:44: Denied PUBLISH from thingA (d0, q1, r0, m1, 'iotbutton/x', ... (1"
        " bytes))",
        "2026-11-22T04:10:44: Denied PUBLISH from thingA (d0, q1, r0, m2, 'iotbutton/x', ... (1"
        " bytes))",
        "2026-11-22T04:10:44: Received PUBLISH from thingB (d0, q1, r0, m1, 'iotbutton/thingB')",
        "2026-11-22T04:10:44: Denied PUBLISH from buttonrig-cloud (d0, q0, r0, m0, 'x', ... (0"
        " bytes))",
        "2026-11-22T04:10:45: Denied PUBLISH from ../etc (d0, q0, r0, m0, 'x', ... (0 bytes))",
    ]
    assert denied_clients(lines) == ["thingA"]


def test_persistent_sessions_and_qos2_publishes_are_refused_too() -> None:
    lines = [
        "2026-11-22T04:10:44: New client connected from 127.0.0.1:40000 as keeper (p2, c0, k30,"
        " u'keeper').",
        "2026-11-22T04:10:44: New client connected from 127.0.0.1:40001 as fresh (p2, c1, k30,"
        " u'fresh').",
        "2026-11-22T04:10:44: Received PUBLISH from eager (d0, q2, r0, m1, 'iotbutton/eager', ..."
        " (2 bytes))",
        "2026-11-22T04:10:44: Received PUBLISH from calm (d0, q1, r0, m1, 'iotbutton/calm', ..."
        " (2 bytes))",
        "2026-11-22T04:10:45: Denied PUBLISH from thingA (d0, q1, r0, m1, 'iotbutton/x', ... (1"
        " bytes))",
        "2026-11-22T04:10:45: New client connected from 127.0.0.1:40002 as buttonrig-cloud (p2,"
        " c0, k30, u'buttonrig-cloud').",
    ]
    assert refused_clients(lines) == ["keeper", "eager", "thingA"]
    assert denied_clients(lines) == ["thingA"]
