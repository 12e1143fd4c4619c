"""The message broker's deviations from MQTT that the guide lists, as our broker enforces them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from rig.mqtt.device_client import DeviceClient

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


def test_a_second_connection_with_the_same_client_id_drops_the_first(device, tmp_path) -> None:
    first = device("rules-dup-1")
    dropped = _disconnected(first)
    assert first.client.is_connected()
    second = DeviceClient(
        first._endpoint,
        tmp_path / "rules-dup-1.crt.pem",
        tmp_path / "rules-dup-1.key.pem",
        "rules-dup-1",
    )
    second.connect()
    try:
        assert dropped.wait(WAIT_S), "the first connection survived a duplicate client id"
    finally:
        second.close()


@dataclass(frozen=True)
class Watched:
    """A paho client of its own thing; `dropped` is set when its connection ends."""

    thing_name: str
    client: paho.Client
    dropped: threading.Event


@pytest.fixture
def watched(device) -> Iterator[Callable[..., Watched]]:
    """Connects a new thing with the clean-session flag asked for; returns after its CONNACK."""
    made: list[Watched] = []

    def connect(thing_name: str, clean_session: bool = True) -> Watched:
        cert, key = device.credentials(thing_name)
        endpoint = device.runtime.endpoint
        accepted, dropped = threading.Event(), threading.Event()
        client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=thing_name, clean_session=clean_session
        )
        client.tls_set(str(endpoint.ca_file), str(cert), str(key))
        client.on_connect = lambda _c, _u, _f, rc, _p: None if rc.is_failure else accepted.set()
        client.on_disconnect = lambda *_args: dropped.set()
        client.reconnect_delay_set(60, 60)  # one connection to watch, not a reconnect loop
        made.append(Watched(thing_name, client, dropped))
        client.connect(endpoint.host, endpoint.port, keepalive=30)
        client.loop_start()
        assert accepted.wait(WAIT_S), f"{thing_name} got no CONNACK"
        return made[-1]

    yield connect
    for one in made:
        one.client.disconnect()
        one.client.loop_stop()


def _assert_disconnected_alone(offender: Watched, bystander: Watched, what: str) -> None:
    """The broker disconnected `offender` and left `bystander`, connected just as long, alone."""
    assert offender.dropped.wait(WAIT_S), f"{what} did not end the connection"
    time.sleep(0.2)  # a wrongful disconnect of the bystander would come as fast
    assert bystander.client.is_connected() and not bystander.dropped.is_set()


def test_a_persistent_session_is_disconnected_a_clean_one_stays(watched) -> None:
    clean = watched("rules-clean-1", clean_session=True)
    persistent = watched("rules-persist-1", clean_session=False)
    _assert_disconnected_alone(persistent, clean, "a connection with cleanSession=false")


def test_a_qos2_publish_disconnects_even_after_an_auth_change(watched, cloud) -> None:
    cloud.sync_auth()  # no SIGHUP any more: `max_qos 1` stays in force
    calm, eager = watched("rules-qos1-1"), watched("rules-qos2-1")
    calm.client.publish("iotbutton/rules-qos1-1", b"{}", qos=1).wait_for_publish(WAIT_S)
    eager.client.publish("iotbutton/rules-qos2-1", b"{}", qos=2)
    _assert_disconnected_alone(eager, calm, "a QoS 2 PUBLISH")
