"""Decisions taken inside the broker by its plugin (rig/broker_plugin/buttonrig_auth.c): the
client id is the client's own, refused at CONNECT when no policy allows it; a refused PUBLISH or
SUBSCRIBE is never acknowledged and ends the connection; one thing cannot use another's topics.
"""

from __future__ import annotations

import json
import socket
import ssl
from pathlib import Path

import pytest

from rig.cloud.core import arn
from rig.cloud.runtime import CloudRuntime
from rig.mqtt import packets
from rig.mqtt.endpoint import ClientIdentity
from rig.mqtt.handshake import can_connect, mqtt_handshake

READ_TIMEOUT_S = 5.0


def _thing_with_certificate(
    cloud: CloudRuntime, directory: Path, thing: str, statements: list[dict]
) -> ClientIdentity:
    """A thing and a certificate made as the AWS guide makes them (no CN of ours), attached,
    with a policy of `statements`."""
    created = cloud.cloud.create_keys_and_certificate(set_as_active=True)
    cloud.cloud.create_thing(thing)
    cloud.cloud.attach_thing_principal(thing, created["certificateArn"])
    document = json.dumps({"Version": "2012-10-17", "Statement": statements})
    cloud.cloud.create_policy(f"{thing}-policy", document)
    cloud.cloud.attach_policy(f"{thing}-policy", created["certificateArn"])
    cert, key = directory / f"{thing}.crt", directory / f"{thing}.key"
    cert.write_text(created["certificatePem"])
    key.write_text(created["keyPair"]["PrivateKey"])
    return ClientIdentity(cert, key)


THING_POLICY = [
    {
        "Effect": "Allow",
        "Action": "iot:Connect",
        "Resource": arn.client_arn("${iot:Connection.Thing.ThingName}"),
    },
    {
        "Effect": "Allow",
        "Action": "iot:Publish",
        "Resource": arn.topic_arn("things/${iot:Connection.Thing.ThingName}/*"),
    },
    {
        "Effect": "Allow",
        "Action": "iot:Subscribe",
        "Resource": arn.topicfilter_arn("things/${iot:Connection.Thing.ThingName}/*"),
    },
    {
        "Effect": "Allow",
        "Action": "iot:Subscribe",
        "Resource": arn.topicfilter_arn("things/+/*"),
    },
    {
        "Effect": "Allow",
        "Action": "iot:Receive",
        "Resource": arn.topic_arn("things/${iot:Connection.Thing.ThingName}/*"),
    },
]


class RawClient:
    """One MQTT 3.1.1 connection over mTLS, packet by packet (rig/mqtt/packets.py)."""

    def __init__(self, cloud: CloudRuntime, identity: ClientIdentity, client_id: str) -> None:
        endpoint = cloud.endpoint
        assert endpoint is not None
        context = ssl.create_default_context(cafile=str(endpoint.ca_file))
        context.load_cert_chain(str(identity.cert_file), str(identity.key_file))
        raw = socket.create_connection((endpoint.host, endpoint.port), timeout=READ_TIMEOUT_S)
        self.tls = context.wrap_socket(raw, server_hostname=endpoint.server_hostname)
        self.reader = packets.PacketReader()
        self.pending: list[packets.Packet] = []
        self.tls.sendall(packets.connect_packet(client_id, keepalive_s=30))
        connack = self.next_packet()
        assert connack is not None and packets.connack_return_code(connack) == 0, connack

    def next_packet(self) -> packets.Packet | None:
        """The next packet, or None when the broker closed the connection."""
        while not self.pending:
            try:
                data = self.tls.recv(4096)
            except (ConnectionResetError, ssl.SSLError):
                return None
            if not data:
                return None
            self.pending += self.reader.feed(data)
        return self.pending.pop(0)

    def packets_until_closed(self) -> list[packets.Packet]:
        """Every packet the broker still sends; fails if it keeps the connection open."""
        seen: list[packets.Packet] = []
        while True:
            try:
                packet = self.next_packet()
            except TimeoutError:
                pytest.fail(f"the broker kept the connection open; it sent {seen}")
            if packet is None:
                return seen
            seen.append(packet)

    def close(self) -> None:
        self.tls.close()


def test_a_thing_name_client_id_connects_with_a_certificate_made_without_a_common_name(
    cloud, tmp_path
) -> None:
    identity = _thing_with_certificate(cloud, tmp_path, "plug-thing-1", THING_POLICY[:1])
    assert can_connect(cloud.endpoint, identity, client_id="plug-thing-1")


def test_a_client_id_the_policy_does_not_allow_is_refused_at_connect(cloud, tmp_path) -> None:
    identity = _thing_with_certificate(cloud, tmp_path, "plug-thing-2", THING_POLICY[:1])
    # 3.1.1 CONNACK return code 5: not authorized
    assert mqtt_handshake(cloud.endpoint, identity, 5.0, client_id="plug-other") == 5
    assert mqtt_handshake(cloud.endpoint, identity, 5.0, client_id="plug-thing-2") == 0


def test_a_thing_cannot_connect_with_another_things_client_id(cloud, tmp_path) -> None:
    first = _thing_with_certificate(cloud, tmp_path, "plug-a-1", THING_POLICY)
    _thing_with_certificate(cloud, tmp_path, "plug-b-1", THING_POLICY)
    assert mqtt_handshake(cloud.endpoint, first, 5.0, client_id="plug-b-1") == 5


def test_a_refused_publish_gets_no_puback_and_ends_the_connection(cloud, tmp_path) -> None:
    identity = _thing_with_certificate(cloud, tmp_path, "plug-a-2", THING_POLICY)
    _thing_with_certificate(cloud, tmp_path, "plug-b-2", THING_POLICY)
    client = RawClient(cloud, identity, "plug-a-2")
    try:
        client.tls.sendall(packets.publish_packet("things/plug-a-2/x", b"{}", 1, packet_id=1))
        ack = client.next_packet()
        assert ack is not None and ack.kind == packets.PUBACK, "an allowed publish: PUBACK"
        client.tls.sendall(packets.publish_packet("things/plug-b-2/x", b"{}", 1, packet_id=2))
        after = client.packets_until_closed()
        assert all(p.kind != packets.PUBACK for p in after), f"a refused publish got {after}"
    finally:
        client.close()


def test_a_refused_subscribe_gets_no_suback_and_ends_the_connection(cloud, tmp_path) -> None:
    identity = _thing_with_certificate(cloud, tmp_path, "plug-a-3", THING_POLICY)
    client = RawClient(cloud, identity, "plug-a-3")
    try:
        client.tls.sendall(packets.subscribe_packet(1, [("other/plug-b-3/#", 1)]))
        after = client.packets_until_closed()
        assert all(p.kind != packets.SUBACK for p in after), f"a refused subscribe got {after}"
    finally:
        client.close()


def test_a_thing_does_not_receive_what_another_thing_publishes(cloud, tmp_path) -> None:
    first = _thing_with_certificate(cloud, tmp_path, "plug-a-4", THING_POLICY)
    second = _thing_with_certificate(cloud, tmp_path, "plug-b-4", THING_POLICY)
    listener = RawClient(cloud, first, "plug-a-4")
    talker = RawClient(cloud, second, "plug-b-4")
    try:
        # the policy lets A subscribe to every thing's topics, but receive only its own
        listener.tls.sendall(packets.subscribe_packet(1, [("things/+/x", 1)]))
        suback = listener.next_packet()
        assert suback is not None and packets.suback_codes(suback) == [1]
        talker.tls.sendall(packets.publish_packet("things/plug-b-4/x", b"b", 1, packet_id=1))
        assert (ack := talker.next_packet()) is not None and ack.kind == packets.PUBACK
        listener.tls.sendall(packets.publish_packet("things/plug-a-4/x", b"a", 1, packet_id=2))
        kinds: list[tuple[int, bytes]] = []
        while len([k for k in kinds if k[0] == packets.PUBLISH]) < 1:
            packet = listener.next_packet()
            assert packet is not None, "the listener's connection ended"
            if packet.kind == packets.PUBLISH:
                kinds.append((packet.kind, packets.parse_publish(packet).payload))
            else:
                kinds.append((packet.kind, b""))
        assert (packets.PUBLISH, b"a") in kinds and (packets.PUBLISH, b"b") not in kinds, kinds
    finally:
        listener.close()
        talker.close()
