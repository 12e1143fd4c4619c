"""The message broker's deviations from MQTT that the guide lists, as our broker enforces them."""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from rig.cloud.pytest_fixtures import DeviceClient
from rig.cloud.runtime import CloudRuntime

WAIT_S = 20.0


def _disconnected(client: DeviceClient) -> threading.Event:
    event = threading.Event()
    client.client.on_disconnect = lambda *_args: event.set()
    return event


def test_a_retained_publish_disconnects_the_client(device) -> None:
    button = device("rules-retain-1")
    dropped = _disconnected(button)
    button.client.publish("iotbutton/rules-retain-1", b"{}", qos=1, retain=True)
    assert dropped.wait(WAIT_S), "a retained PUBLISH did not end the connection"


def test_a_second_connection_with_the_same_identity_drops_the_first(device, tmp_path) -> None:
    first = device("rules-dup-1")
    dropped = _disconnected(first)
    assert first.client.is_connected()
    # a different requested client id does not help: the certificate CN is the client id
    second = DeviceClient(
        first._endpoint,
        tmp_path / "rules-dup-1.crt.pem",
        tmp_path / "rules-dup-1.key.pem",
        "some-other-id",
    )
    second.connect()
    try:
        assert dropped.wait(WAIT_S), "the first connection survived a duplicate client id"
    finally:
        second.close()


def _raw_client(
    device, thing_name: str, clean_session: bool
) -> tuple[paho.Client, threading.Event, threading.Event]:
    """A paho client of a new thing, connecting with the given clean-session flag; events for
    its CONNACK (accepted) and for the end of its connection."""
    cert, key = device.credentials(thing_name)
    accepted, dropped = threading.Event(), threading.Event()
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=thing_name, clean_session=clean_session
    )
    client.tls_set(str(device.runtime.endpoint.ca_file), str(cert), str(key))
    client.on_connect = lambda _c, _u, _f, rc, _p: None if rc.is_failure else accepted.set()
    client.on_disconnect = lambda *_args: dropped.set()
    client.reconnect_delay_set(60, 60)  # one connection to watch, not a reconnect loop
    client.connect(device.runtime.endpoint.host, device.runtime.endpoint.port, keepalive=30)
    client.loop_start()
    return client, accepted, dropped


def _wait_kicked(cloud: CloudRuntime, client_id: str) -> list[str]:
    enforcer = cloud.enforcer
    assert enforcer is not None
    deadline = time.monotonic() + WAIT_S
    while client_id not in enforcer.kicked:  # recorded once the takeover has ended
        assert time.monotonic() < deadline, f"kicked: {enforcer.kicked}"
        time.sleep(0.02)
    return enforcer.kicked


def test_a_persistent_session_is_disconnected_a_clean_one_stays(device, cloud) -> None:
    clean, clean_accepted, clean_dropped = _raw_client(device, "rules-clean-1", True)
    persistent, accepted, dropped = _raw_client(device, "rules-persist-1", False)
    try:
        assert accepted.wait(WAIT_S) and clean_accepted.wait(WAIT_S)
        assert dropped.wait(WAIT_S), "a connection with cleanSession=false was not disconnected"
        kicked = _wait_kicked(cloud, "rules-persist-1")
        # the enforcer reads the log in order: the clean connect line was looked at as well
        assert "rules-clean-1" not in kicked, kicked
        assert clean.is_connected() and not clean_dropped.is_set()
    finally:
        for client in (persistent, clean):
            client.disconnect()
            client.loop_stop()


def test_a_qos2_publish_disconnects_even_after_a_reload(device, cloud) -> None:
    # after a SIGHUP mosquitto 2.0.11 has forgotten `max_qos 1` and would take QoS 2
    cloud.sync_auth()
    calm, calm_accepted, calm_dropped = _raw_client(device, "rules-qos1-1", True)
    eager, accepted, dropped = _raw_client(device, "rules-qos2-1", True)
    try:
        assert accepted.wait(WAIT_S) and calm_accepted.wait(WAIT_S)
        calm.publish("iotbutton/rules-qos1-1", b"{}", qos=1).wait_for_publish(WAIT_S)
        eager.publish("iotbutton/rules-qos2-1", b"{}", qos=2)
        assert dropped.wait(WAIT_S), "a QoS 2 PUBLISH did not end the connection"
        kicked = _wait_kicked(cloud, "rules-qos2-1")
        assert "rules-qos1-1" not in kicked, kicked
        assert calm.is_connected() and not calm_dropped.is_set()
    finally:
        for client in (eager, calm):
            client.disconnect()
            client.loop_stop()
