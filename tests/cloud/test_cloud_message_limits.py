"""AWS IoT's message size limit at the broker, on the wire: a PUBLISH whose payload is over
128 KB is never acknowledged and its connection is closed (AWS IoT Core quotas, "Message broker
and protocol limits and quotas": the payload of a publish is at most 128 KB, larger ones are
rejected). Packet level: raw MQTT 3.1.1 over mutual TLS, so nothing a client library does (or
refuses to send) hides what the broker answers.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Callable, Iterator

import pytest

from rig.cloud.runtime import CloudRuntime
from rig.mqtt import packets
from rig.pytest_plugin.cloud import DeviceFactory

LIMIT = 128 * 1024
WAIT_S = 20.0


class RawSession:
    """One mTLS connection speaking MQTT by hand."""

    def __init__(self, runtime: CloudRuntime, cert: str, key: str, client_id: str) -> None:
        endpoint = runtime.endpoint
        assert endpoint is not None
        context = ssl.create_default_context(cafile=str(endpoint.ca_file))
        context.load_cert_chain(cert, key)
        raw = socket.create_connection((endpoint.host, endpoint.port), timeout=WAIT_S)
        self.sock = context.wrap_socket(raw, server_hostname=endpoint.server_hostname)
        self.reader = packets.PacketReader()
        self.sock.sendall(packets.connect_packet(client_id, 30))
        connack = self.next_packet()
        assert connack is not None and connack.kind == packets.CONNACK
        assert packets.connack_return_code(connack) == 0

    def next_packet(self) -> packets.Packet | None:
        """The next packet from the broker, or None when it closed the connection."""
        while True:
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                return None
            if not data:
                return None
            found = self.reader.feed(data)
            if found:
                assert len(found) == 1, found
                return found[0]

    def publish(self, topic: str, payload: bytes, packet_id: int) -> None:
        """Send the whole PUBLISH unless the broker has closed the connection meanwhile."""
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.sock.sendall(packets.publish_packet(topic, payload, 1, packet_id))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


@pytest.fixture
def session(
    cloud_runtime: CloudRuntime, device: DeviceFactory
) -> Iterator[Callable[[str], RawSession]]:
    opened: list[RawSession] = []

    def open_session(thing_name: str) -> RawSession:
        cert, key = device.credentials(thing_name)
        cloud_runtime.sync_auth()  # the limit must outlive a reload of the broker's config
        opened.append(RawSession(cloud_runtime, str(cert), str(key), thing_name))
        return opened[-1]

    yield open_session
    for raw in opened:
        raw.close()


def test_a_publish_at_the_limit_is_acknowledged(session) -> None:
    thing = "limits-at-1"
    topic = f"iotbutton/{thing}"
    raw = session(thing)
    # the whole packet after its fixed header (topic, packet id, payload) within 128 KB
    raw.publish(topic, b"x" * (LIMIT - len(topic) - 4), packet_id=7)
    answer = raw.next_packet()
    assert answer is not None and answer.kind == packets.PUBACK, answer
    assert packets.packet_id_of(answer) == 7


@pytest.mark.parametrize("size", [LIMIT + 1, 5 * 1024 * 1024])
def test_a_publish_over_128_kb_closes_the_connection_without_a_puback(session, size: int) -> None:
    thing = f"limits-over-{size}"
    raw = session(thing)
    raw.publish(f"iotbutton/{thing}", b"x" * size, packet_id=9)
    answer = raw.next_packet()
    assert answer is None, f"the broker answered a {size}-byte PUBLISH with {answer}"
