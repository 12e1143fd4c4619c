"""The message broker's deviations from MQTT that the guide lists, as our broker enforces them."""

from __future__ import annotations

import threading

from rig.cloud.pytest_fixtures import DeviceClient

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
