"""Last Wills on shadow topics (SJ §1.10, docs/cloud-decisions.md S-27), over the real broker:
"LWT messages sent to AWS IoT reserved topics ... are ignored by the AWS IoT Shadows service, but
are still processed by subscribed clients"."""

from __future__ import annotations

import json
import socket
import ssl
import struct
import time
from pathlib import Path

from raw_mqtt import raw_connect

from rig.cloud.core import arn
from rig.cloud.runtime import CloudRuntime
from rig.mqtt.device_client import DeviceClient
from rig.mqtt.endpoint import ClientIdentity
from rig.pytest_plugin.cloud import DeviceFactory

OFFLINE = json.dumps({"state": {"reported": {"connected": "false"}}}).encode()
ONLINE = json.dumps({"state": {"reported": {"connected": "true"}}}).encode()
LATER = json.dumps({"state": {"reported": {"n": 1}}}).encode()  # an update after the will


def _update_topic(thing: str) -> str:
    return f"$aws/things/{thing}/shadow/update"


def _observer(cloud: CloudRuntime, directory: Path, thing: str) -> DeviceClient:
    """A client that may receive `thing`'s shadow update requests."""
    name = f"{thing}-observer"
    created = cloud.cloud.create_keys_and_certificate(True, common_name=name)
    topic = _update_topic(thing)
    cloud.cloud.create_policy(
        name,
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "iot:Connect", "Resource": arn.client_arn(name)},
                    {
                        "Effect": "Allow",
                        "Action": "iot:Subscribe",
                        "Resource": arn.topicfilter_arn(topic),
                    },
                    {"Effect": "Allow", "Action": "iot:Receive", "Resource": arn.topic_arn(topic)},
                ],
            }
        ),
    )
    cloud.cloud.attach_policy(name, created["certificateArn"])
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    cert.write_text(created["certificatePem"])
    key.write_text(created["keyPair"]["PrivateKey"])
    assert cloud.endpoint is not None
    observer = DeviceClient(cloud.endpoint, cert, key, name).connect()
    observer.subscribe(topic)
    return observer


def _identity(directory: Path, thing: str) -> ClientIdentity:
    return ClientIdentity(directory / f"{thing}.crt.pem", directory / f"{thing}.key.pem")


def _update(client: DeviceClient, thing: str, payload: bytes) -> dict:
    """Publish a shadow update and wait for its accepted reply (the service's answer)."""
    base = _update_topic(thing)
    client.subscribe(f"{base}/accepted")
    client.publish(base, payload)
    return client.expect(f"{base}/accepted")


def _went_online(device: DeviceFactory, thing: str) -> None:
    """The thing reports itself connected (shadow version 1), then that client goes."""
    bulb = device(thing)
    _update(bulb, thing, ONLINE)
    bulb.close()


def _connect_with_will(cloud: CloudRuntime, directory: Path, thing: str) -> ssl.SSLSocket:
    """The thing connected with its will: "connected": "false" on its own shadow update topic."""
    assert cloud.endpoint is not None
    return raw_connect(
        cloud.endpoint, _identity(directory, thing), (_update_topic(thing), OFFLINE)
    )


def _reported(cloud: CloudRuntime, thing: str) -> tuple[dict, int]:
    shadow = json.loads(cloud.cloud.get_thing_shadow(thing))
    return shadow["state"]["reported"], shadow["version"]


def test_a_will_on_the_shadow_topic_reaches_subscribers_and_the_shadow_ignores_it(
    cloud: CloudRuntime, device: DeviceFactory, tmp_path: Path
) -> None:
    thing = "lwt-shadow-1"
    _went_online(device, thing)
    observer = _observer(cloud, tmp_path, thing)
    try:
        _connect_with_will(cloud, tmp_path, thing).close()
        assert observer.expect(_update_topic(thing)) == json.loads(OFFLINE), (
            "subscribers still get the will"
        )

        # The service answers in arrival order, so once this later update is accepted the will
        # has been seen: ignored, not applied.
        again = device(thing)
        _update(again, thing, LATER)
        assert _reported(cloud, thing) == ({"connected": "true", "n": 1}, 2)
        # The same bytes as the will, published by the device itself, are a request like any.
        _update(again, thing, OFFLINE)
        assert _reported(cloud, thing) == ({"connected": "false", "n": 1}, 3)
    finally:
        observer.close()


def test_a_will_fired_by_a_takeover_is_ignored_too(
    cloud: CloudRuntime, device: DeviceFactory, tmp_path: Path
) -> None:
    """A second connection with the client id closes the first, which publishes its will."""
    thing = "lwt-shadow-2"
    device.credentials(thing)
    first = _connect_with_will(cloud, tmp_path, thing)
    try:
        assert cloud.endpoint is not None
        identity = _identity(tmp_path, thing)
        second = DeviceClient(cloud.endpoint, identity.cert_file, identity.key_file, thing)
        second.connect()
        device.clients.append(second)
        _update(second, thing, ONLINE)
        assert _reported(cloud, thing) == ({"connected": "true"}, 1)
    finally:
        first.close()


def test_a_will_the_broker_drops_does_not_swallow_a_later_request(
    cloud: CloudRuntime, device: DeviceFactory, tmp_path: Path
) -> None:
    """A will on a topic the client may not publish to never arrives (the broker plugin refuses it): the
    next request on that topic, the same size, is answered."""
    owner = device("lwt-shadow-3")
    device.credentials("lwt-shadow-4")
    assert cloud.endpoint is not None
    topic = "$aws/things/lwt-shadow-3/shadow/update"  # not lwt-shadow-4's to publish on
    raw_connect(cloud.endpoint, _identity(tmp_path, "lwt-shadow-4"), (topic, OFFLINE)).close()
    _update(owner, "lwt-shadow-3", OFFLINE)
    assert _reported(cloud, "lwt-shadow-3") == ({"connected": "false"}, 1)


def test_a_will_fired_by_a_connection_reset_reaches_subscribers_and_the_shadow_ignores_it(
    cloud: CloudRuntime, device: DeviceFactory, tmp_path: Path
) -> None:
    """A reset (no FIN, no TLS close_notify) ends the connection with a socket error."""
    thing = "lwt-shadow-5"
    _went_online(device, thing)
    observer = _observer(cloud, tmp_path, thing)
    try:
        connection = _connect_with_will(cloud, tmp_path, thing)
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        connection.close()
        assert observer.expect(_update_topic(thing)) == json.loads(OFFLINE), (
            "subscribers still get the will"
        )
        again = device(thing)
        _update(again, thing, LATER)
        assert _reported(cloud, thing) == ({"connected": "true", "n": 1}, 2)
    finally:
        observer.close()


def test_a_will_fired_while_the_cloud_service_restarts_is_ignored_too(
    cloud: CloudRuntime, device: DeviceFactory, tmp_path: Path
) -> None:
    """The broker keeps the will for the cloud's persistent session and hands it over when the
    service is back: the shadow service still knows it for a will."""
    thing = "lwt-shadow-6"
    _went_online(device, thing)
    connection = _connect_with_will(cloud, tmp_path, thing)

    def drop_the_device() -> None:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        connection.close()
        time.sleep(0.5)  # the broker has seen the reset and queued the will for the cloud

    cloud.restart_service(while_down=drop_the_device)
    again = device(thing)
    _update(again, thing, LATER)
    assert _reported(cloud, thing) == ({"connected": "true", "n": 1}, 2)
