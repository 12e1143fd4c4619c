"""Lifecycle events as the broker plugin reports them (rig/broker_plugin/buttonrig_auth.c):
every way a connection ends is a disconnected event with the guide's disconnectReason, naming
the certificate of that very connection (AWS IoT guide, "Lifecycle events")."""

from __future__ import annotations

import json
import socket
import ssl
import struct
import time
from pathlib import Path

from rig.cloud.core import arn
from rig.cloud.runtime import CloudRuntime
from rig.mqtt.device_client import DeviceClient
from rig.mqtt.endpoint import ClientIdentity
from rig.mqtt.packets import connect_packet, publish_packet
from rig.pytest_plugin.cloud import DeviceFactory

EVENTS_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": arn.client_arn("lc-watcher")},
        {
            "Effect": "Allow",
            "Action": "iot:Subscribe",
            "Resource": arn.topicfilter_arn("$aws/events/*"),
        },
        {"Effect": "Allow", "Action": "iot:Receive", "Resource": arn.topic_arn("$aws/events/*")},
    ],
}
THING_CONNECT = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "iot:Connect",
            "Resource": arn.client_arn("${iot:Connection.Thing.ThingName}"),
        }
    ],
}


def _watcher(cloud: CloudRuntime, directory: Path, thing: str) -> DeviceClient:
    created = cloud.cloud.create_keys_and_certificate(True, common_name="lc-watcher")
    if "LcEventsWatch" not in [p["policyName"] for p in cloud.cloud.list_policies()["policies"]]:
        cloud.cloud.create_policy("LcEventsWatch", json.dumps(EVENTS_POLICY))
    cloud.cloud.attach_policy("LcEventsWatch", created["certificateArn"])
    cert, key = directory / "lc-watcher.crt", directory / "lc-watcher.key"
    cert.write_text(created["certificatePem"])
    key.write_text(created["keyPair"]["PrivateKey"])
    assert cloud.endpoint is not None
    watcher = DeviceClient(cloud.endpoint, cert, key, "lc-watcher").connect()
    watcher.subscribe(f"$aws/events/presence/+/{thing}")
    return watcher


def _certificate(cloud: CloudRuntime, directory: Path, thing: str, n: int) -> tuple[str, Path]:
    """A certificate made as the guide makes it, attached to `thing`, allowed to connect as it:
    (its id, the directory holding cert + key as <name>.crt/.key)."""
    created = cloud.cloud.create_keys_and_certificate(set_as_active=True)
    if n == 0:
        cloud.cloud.create_thing(thing)
        cloud.cloud.create_policy(f"{thing}-connect", json.dumps(THING_CONNECT))
    cloud.cloud.attach_thing_principal(thing, created["certificateArn"])
    cloud.cloud.attach_policy(f"{thing}-connect", created["certificateArn"])
    (directory / f"{thing}-{n}.crt").write_text(created["certificatePem"])
    (directory / f"{thing}-{n}.key").write_text(created["keyPair"]["PrivateKey"])
    return created["certificateId"], directory


def _raw(
    cloud: CloudRuntime, identity: ClientIdentity, client_id: str, keepalive_s: int = 60
) -> ssl.SSLSocket:
    """An MQTT 3.1.1 connection without a will (CONNACK checked)."""
    assert cloud.endpoint is not None
    context = ssl.create_default_context(cafile=str(cloud.endpoint.ca_file))
    context.load_cert_chain(str(identity.cert_file), str(identity.key_file))
    raw = socket.create_connection((cloud.endpoint.host, cloud.endpoint.port), timeout=20)
    tls = context.wrap_socket(raw, server_hostname=cloud.endpoint.server_hostname)
    tls.sendall(connect_packet(client_id, keepalive_s))
    assert tls.recv(4) == b"\x20\x02\x00\x00"
    return tls


def _kill(connection: ssl.SSLSocket) -> None:
    """End the TCP connection with a reset: no DISCONNECT, no TLS close_notify, no FIN."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


def test_a_connection_reset_is_connection_lost_with_its_certificate(
    cloud: CloudRuntime, tmp_path: Path
) -> None:
    thing = "lc-reset-1"
    certificate_id, directory = _certificate(cloud, tmp_path, thing, 0)
    watcher = _watcher(cloud, tmp_path, thing)
    try:
        identity = ClientIdentity(directory / f"{thing}-0.crt", directory / f"{thing}-0.key")
        connection = _raw(cloud, identity, thing)
        connected = watcher.expect(f"$aws/events/presence/connected/{thing}")
        assert connected["principalIdentifier"] == certificate_id
        _kill(connection)
        disconnected = watcher.expect(f"$aws/events/presence/disconnected/{thing}")
        assert disconnected["disconnectReason"] == "CONNECTION_LOST"
        assert disconnected["clientInitiatedDisconnect"] is False
        assert disconnected["principalIdentifier"] == certificate_id
        assert disconnected["sessionIdentifier"] == connected["sessionIdentifier"]
    finally:
        watcher.close()


def test_a_disconnect_packet_is_client_initiated(cloud: CloudRuntime, tmp_path: Path) -> None:
    thing = "lc-clean-1"
    _certificate(cloud, tmp_path, thing, 0)
    watcher = _watcher(cloud, tmp_path, thing)
    try:
        identity = ClientIdentity(tmp_path / f"{thing}-0.crt", tmp_path / f"{thing}-0.key")
        connection = _raw(cloud, identity, thing)
        watcher.expect(f"$aws/events/presence/connected/{thing}")
        connection.sendall(b"\xe0\x00")  # DISCONNECT
        connection.close()
        disconnected = watcher.expect(f"$aws/events/presence/disconnected/{thing}")
        assert disconnected["disconnectReason"] == "CLIENT_INITIATED_DISCONNECT"
        assert disconnected["clientInitiatedDisconnect"] is True
    finally:
        watcher.close()


def test_a_takeover_ends_the_old_connection_as_duplicate_clientid_with_its_own_certificate(
    cloud: CloudRuntime, tmp_path: Path
) -> None:
    thing = "lc-dup-1"
    first_id, _ = _certificate(cloud, tmp_path, thing, 0)
    second_id, _ = _certificate(cloud, tmp_path, thing, 1)
    watcher = _watcher(cloud, tmp_path, thing)
    first = second = None
    try:
        first = _raw(
            cloud, ClientIdentity(tmp_path / f"{thing}-0.crt", tmp_path / f"{thing}-0.key"), thing
        )
        old = watcher.expect(f"$aws/events/presence/connected/{thing}")
        assert old["principalIdentifier"] == first_id
        second = _raw(
            cloud, ClientIdentity(tmp_path / f"{thing}-1.crt", tmp_path / f"{thing}-1.key"), thing
        )
        ended = watcher.expect(f"$aws/events/presence/disconnected/{thing}")
        assert ended["disconnectReason"] == "DUPLICATE_CLIENTID"
        assert ended["principalIdentifier"] == first_id
        assert ended["sessionIdentifier"] == old["sessionIdentifier"]
        new = watcher.expect(f"$aws/events/presence/connected/{thing}")
        assert new["principalIdentifier"] == second_id
        assert new["sessionIdentifier"] != old["sessionIdentifier"]
    finally:
        watcher.close()
        for connection in (first, second):
            if connection is not None:
                connection.close()


def test_a_forbidden_publish_ends_the_connection_as_auth_error(
    cloud: CloudRuntime, device: DeviceFactory, tmp_path: Path
) -> None:
    """The guide: AUTH_ERROR, "The client failed to authenticate or authorization failed"
    (FORBIDDEN_ACCESS is a client not allowed to connect at all, e.g. a denied IP address)."""
    thing = "lc-deny-1"
    device.credentials(thing)
    watcher = _watcher(cloud, tmp_path, thing)
    try:
        identity = ClientIdentity(tmp_path / f"{thing}.crt.pem", tmp_path / f"{thing}.key.pem")
        connection = _raw(cloud, identity, thing)
        watcher.expect(f"$aws/events/presence/connected/{thing}")
        connection.sendall(publish_packet("not/this/things/topic", b"{}", qos=1, packet_id=1))
        disconnected = watcher.expect(f"$aws/events/presence/disconnected/{thing}")
        assert disconnected["disconnectReason"] == "AUTH_ERROR"
        assert disconnected["clientInitiatedDisconnect"] is False
        connection.close()
    finally:
        watcher.close()


def test_a_silent_client_ends_as_keep_alive_timeout(cloud: CloudRuntime, tmp_path: Path) -> None:
    """No packet for 1.5 x its keepalive: mosquitto ends it (src/loop.c); the guide's
    MQTT_KEEP_ALIVE_TIMEOUT, not the client's doing."""
    thing = "lc-silent-1"
    _certificate(cloud, tmp_path, thing, 0)
    watcher = _watcher(cloud, tmp_path, thing)
    try:
        identity = ClientIdentity(tmp_path / f"{thing}-0.crt", tmp_path / f"{thing}-0.key")
        connection = _raw(cloud, identity, thing, keepalive_s=1)
        watcher.expect(f"$aws/events/presence/connected/{thing}")
        disconnected = watcher.expect(f"$aws/events/presence/disconnected/{thing}")
        assert disconnected["disconnectReason"] == "MQTT_KEEP_ALIVE_TIMEOUT"
        assert disconnected["clientInitiatedDisconnect"] is False
        connection.close()
    finally:
        watcher.close()


def test_an_end_while_the_cloud_service_restarts_is_published_when_it_is_back(
    cloud: CloudRuntime, tmp_path: Path
) -> None:
    thing = "lc-restart-1"
    certificate_id, _ = _certificate(cloud, tmp_path, thing, 0)
    watcher = _watcher(cloud, tmp_path, thing)
    try:
        identity = ClientIdentity(tmp_path / f"{thing}-0.crt", tmp_path / f"{thing}-0.key")
        connection = _raw(cloud, identity, thing)
        watcher.expect(f"$aws/events/presence/connected/{thing}")

        def drop_the_device() -> None:
            _kill(connection)
            time.sleep(0.5)  # the plugin has reported it (at its next tick, within 100 ms)

        cloud.restart_service(while_down=drop_the_device)
        disconnected = watcher.expect(f"$aws/events/presence/disconnected/{thing}")
        assert disconnected["disconnectReason"] == "CONNECTION_LOST"
        assert disconnected["principalIdentifier"] == certificate_id
    finally:
        watcher.close()
