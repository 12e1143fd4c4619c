"""The cloud service's MQTT 3.1.1 packet codec (rig/mqtt/packets.py), without a broker.

Three independent references: the byte values the MQTT 3.1.1 specification prints (§2.2.3 table,
packet layouts of §3), paho's own encoder (paho 2.2, made to write into a socket pair), and the
round trip through `PacketReader` however the stream is cut into reads.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from rig.mqtt import packets
from rig.mqtt.packets import MalformedPacket, Packet, PacketReader, Publish

# ---- remaining length (§2.2.3) ---------------------------------------------------------------

# The specification's table: the smallest and largest value for one to four length bytes.
SPEC_REMAINING_LENGTHS = [
    (0, b"\x00"),
    (127, b"\x7f"),
    (128, b"\x80\x01"),
    (16_383, b"\xff\x7f"),
    (16_384, b"\x80\x80\x01"),
    (2_097_151, b"\xff\xff\x7f"),
    (2_097_152, b"\x80\x80\x80\x01"),
    (268_435_455, b"\xff\xff\xff\x7f"),
]


@pytest.mark.parametrize(("length", "encoded"), SPEC_REMAINING_LENGTHS)
def test_remaining_length_matches_the_specification_table(length: int, encoded: bytes) -> None:
    assert packets.remaining_length(length) == encoded


@pytest.mark.parametrize(("length", "encoded"), SPEC_REMAINING_LENGTHS[:7])
def test_the_reader_decodes_every_length_of_the_table(length: int, encoded: bytes) -> None:
    body = bytes(range(256)) * (length // 256) + bytes(range(length % 256))
    assert PacketReader().feed(b"\x30" + encoded + body + b"\xc0\x00") == [
        Packet(packets.PUBLISH, 0, body),
        Packet(packets.PINGREQ, 0, b""),
    ]


@pytest.mark.parametrize("length", [-1, 268_435_456, 2**40])
def test_remaining_length_out_of_range_is_refused(length: int) -> None:
    with pytest.raises(ValueError, match="cannot carry"):
        packets.remaining_length(length)


@given(st.integers(min_value=0, max_value=packets.MAX_REMAINING_LENGTH))
def test_remaining_length_agrees_with_paho(length: int) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    assert packets.remaining_length(length) == bytes(
        client._pack_remaining_length(bytearray(), length)
    )


# ---- exact bytes from the specification --------------------------------------------------------


def test_connect_for_client_x_keepalive_60_byte_by_byte() -> None:
    expected = bytes(
        [
            0x10,  # CONNECT (type 1) in the high nibble, no flags (§3.1.1)
            0x0D,  # remaining length 13 = 6 (protocol name) + 1 + 1 + 2 + 3 (client id)
            0x00, 0x04, *b"MQTT",  # protocol name, a length-prefixed string (§3.1.2.1)
            0x04,  # protocol level 4 = MQTT 3.1.1 (§3.1.2.2)
            0x02,  # connect flags: only Clean Session (bit 1) (§3.1.2.4)
            0x00, 0x3C,  # keepalive 60 s, big-endian (§3.1.2.10)
            0x00, 0x01, *b"x",  # payload: the client identifier (§3.1.3.1)
        ]
    )  # fmt: skip
    assert packets.connect_packet("x", 60) == expected


def test_connect_packet_with_a_will() -> None:
    expected = bytes(
        [
            0x10,
            0x17,  # remaining length 23 = 10 + 3 (client id) + 5 (will topic) + 5 (will message)
            0x00, 0x04, *b"MQTT", 0x04,
            0x0E,  # connect flags: Clean Session, Will Flag (bit 2), Will QoS 1 (bits 3-4)
            0x00, 0x3C,
            0x00, 0x01, *b"x",
            0x00, 0x03, *b"a/b",  # will topic (§3.1.3.2)
            0x00, 0x03, *b"off",  # will message (§3.1.3.3)
        ]
    )  # fmt: skip
    assert packets.connect_packet("x", 60, ("a/b", b"off")) == expected


def test_puback_for_packet_id_10_byte_by_byte() -> None:
    # 0x40: PUBACK (type 4), no flags; 0x02: remaining length; 0x00 0x0A: packet id 10 (§3.4)
    assert packets.puback_packet(10) == b"\x40\x02\x00\x0a"


def test_subscribe_byte_by_byte() -> None:
    expected = bytes(
        [
            0x82,  # SUBSCRIBE (type 8) with the reserved flags 0010 the spec demands (§3.8.1)
            0x08,  # remaining length: 2 (packet id) + 2 + 3 (filter) + 1 (QoS)
            0x00, 0x07,  # packet identifier 7
            0x00, 0x03, *b"a/#",  # topic filter
            0x01,  # requested QoS 1
        ]
    )  # fmt: skip
    assert packets.subscribe_packet(7, [("a/#", 1)]) == expected


def test_publish_qos1_dup_byte_by_byte() -> None:
    expected = bytes(
        [
            0x3A,  # PUBLISH (type 3); flags DUP (8) + QoS 1 (2), no RETAIN (§3.3.1)
            0x09,  # remaining length: 2 + 3 (topic) + 2 (packet id) + 2 (payload)
            0x00, 0x03, *b"a/b",  # topic name
            0x12, 0x34,  # packet identifier 0x1234, present because QoS > 0
            *b"hi",  # payload, no length prefix: it runs to the end of the packet
        ]
    )  # fmt: skip
    assert packets.publish_packet("a/b", b"hi", 1, 0x1234, dup=True) == expected


def test_pingreq_and_disconnect_are_two_bytes() -> None:
    assert packets.PINGREQ_PACKET == bytes([12 << 4, 0])  # type 12, remaining length 0 (§3.12)
    assert packets.DISCONNECT_PACKET == bytes([14 << 4, 0])  # type 14, remaining length 0 (§3.14)


# ---- the same bytes as paho's encoder ----------------------------------------------------------


class PahoWire:
    """A paho client writing into one end of a socket pair: its packets, as paho encodes them."""

    def __init__(self, client_id: str = "x") -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311
        )
        self._ours, self._paho = socket.socketpair()
        for sock in (self._ours, self._paho):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        # with no loop thread, paho writes each packet at once
        self.client._sock = self._paho  # pyright: ignore[reportAttributeAccessIssue]

    def written(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            data += self._ours.recv(size - len(data))
        return data

    def close(self) -> None:
        self._ours.close()
        self._paho.close()


@pytest.fixture
def paho_wire() -> Iterator[PahoWire]:
    wire = PahoWire()
    yield wire
    wire.close()


def test_connect_agrees_with_paho(paho_wire: PahoWire) -> None:
    ours = packets.connect_packet("x", 60)
    paho_wire.client._send_connect(60)
    assert paho_wire.written(len(ours)) == ours


TOPIC_CHARACTERS = st.characters(exclude_categories=("Cs",))  # surrogates have no UTF-8
topics = st.one_of(
    st.text(TOPIC_CHARACTERS, min_size=1, max_size=60),
    st.builds(
        "$aws/things/{}/shadow/{}".format,
        st.from_regex(r"[A-Za-z0-9_:-]{1,128}", fullmatch=True),
        st.sampled_from(["update", "update/accepted", "get", "name/s1/update/delta"]),
    ),
)


def _long_payload(size_and_pattern: tuple[int, bytes]) -> bytes:
    size, pattern = size_and_pattern
    return (pattern * (size // len(pattern) + 1))[:size]


# Mostly small payloads as Hypothesis draws them, and lengths up to ~70 kB, past the one-, two-
# and three-byte remaining lengths and past one read of the link (64 KiB).
payloads = st.one_of(
    st.binary(max_size=200),
    st.tuples(st.integers(0, 70_000), st.binary(min_size=1, max_size=8)).map(_long_payload),
)
packet_ids = st.integers(min_value=1, max_value=0xFFFF)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(topic=topics, payload=payloads, qos=st.sampled_from([0, 1]), packet_id=packet_ids)
def test_publish_agrees_with_paho(
    paho_wire: PahoWire, topic: str, payload: bytes, qos: int, packet_id: int
) -> None:
    ours = packets.publish_packet(topic, payload, qos, packet_id if qos else 0)
    info = mqtt.MQTTMessageInfo(packet_id)  # paho marks it published once written
    paho_wire.client._send_publish(packet_id, topic.encode(), payload, qos, info=info)
    assert paho_wire.written(len(ours)) == ours


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    packet_id=packet_ids,
    filters=st.lists(st.tuples(topics, st.sampled_from([0, 1])), min_size=1, max_size=4),
)
def test_subscribe_agrees_with_paho(
    paho_wire: PahoWire, packet_id: int, filters: list[tuple[str, int]]
) -> None:
    paho_wire.client._last_mid = packet_id - 1  # paho numbers its packets from _last_mid + 1
    ours = packets.subscribe_packet(packet_id, filters)
    paho_wire.client._send_subscribe(False, [(topic.encode(), qos) for topic, qos in filters])
    assert paho_wire.written(len(ours)) == ours


def test_puback_and_pingreq_agree_with_paho(paho_wire: PahoWire) -> None:
    for packet_id in (1, 10, 255, 256, 0xFFFF):
        paho_wire.client._send_command_with_mid(mqtt.PUBACK, packet_id, False)
        assert paho_wire.written(4) == packets.puback_packet(packet_id)
    paho_wire.client._send_simple_command(mqtt.PINGREQ)
    assert paho_wire.written(2) == packets.PINGREQ_PACKET


# ---- round trip through PacketReader, however the stream is split ------------------------------


@dataclass(frozen=True)
class Sent:
    """One packet an encoder built, and what reading it back must give."""

    wire: bytes
    kind: int
    check: Publish | int | list[tuple[str, int]] | None  # parsed PUBLISH / packet id / filters


@st.composite
def sent_publishes(draw: st.DrawFn) -> Sent:
    topic, payload, qos = draw(topics), draw(payloads), draw(st.sampled_from([0, 1]))
    packet_id = draw(packet_ids) if qos else 0
    dup = bool(qos) and draw(st.booleans())
    wire = packets.publish_packet(topic, payload, qos, packet_id, dup)
    return Sent(wire, packets.PUBLISH, Publish(topic, payload, qos, packet_id, retain=False))


@st.composite
def sent_others(draw: st.DrawFn) -> Sent:
    choice = draw(st.sampled_from(["puback", "subscribe", "connect", "ping", "disconnect"]))
    if choice == "puback":
        packet_id = draw(packet_ids)
        return Sent(packets.puback_packet(packet_id), packets.PUBACK, packet_id)
    if choice == "subscribe":
        packet_id = draw(packet_ids)
        filters = draw(
            st.lists(st.tuples(topics, st.sampled_from([0, 1])), min_size=1, max_size=3)
        )
        return Sent(packets.subscribe_packet(packet_id, filters), packets.SUBSCRIBE, filters)
    if choice == "connect":
        client_id = draw(st.from_regex(r"[A-Za-z0-9-]{1,64}", fullmatch=True))
        return Sent(packets.connect_packet(client_id, draw(st.integers(0, 0xFFFF))), 1, None)
    if choice == "ping":
        return Sent(packets.PINGREQ_PACKET, packets.PINGREQ, None)
    return Sent(packets.DISCONNECT_PACKET, packets.DISCONNECT, None)


streams = st.lists(st.one_of(sent_publishes(), sent_others()), min_size=1, max_size=6)


def _subscribe_filters(body: bytes) -> list[tuple[str, int]]:
    """Topic filters and QoS of a SUBSCRIBE body, read independently of the encoder."""
    filters, position = [], 2
    while position < len(body):
        (length,) = struct.unpack_from("!H", body, position)
        topic = body[position + 2 : position + 2 + length].decode()
        filters.append((topic, body[position + 2 + length]))
        position += 3 + length
    return filters


def _assert_read_back(sent: list[Sent], received: list[Packet]) -> None:
    assert [packet.kind for packet in received] == [item.kind for item in sent]
    for item, packet in zip(sent, received, strict=True):
        assert item.wire[0] == (packet.kind << 4) | packet.flags
        if item.kind == packets.PUBLISH:
            assert packets.parse_publish(packet) == item.check
            assert bool(packet.flags & 0x08) == bool(item.wire[0] & 0x08)  # DUP kept
        elif item.kind == packets.PUBACK:
            assert packets.packet_id_of(packet) == item.check
        elif item.kind == packets.SUBSCRIBE:
            assert packet.flags == 0x02
            assert _subscribe_filters(packet.body) == item.check
        elif item.kind in (packets.PINGREQ, packets.DISCONNECT):
            assert packet.body == b""
        else:  # CONNECT: the body ends with the client id the encoder was given
            assert packet.body.startswith(b"\x00\x04MQTT\x04\x02")


def _feed_in_pieces(stream: bytes, cuts: list[int]) -> list[Packet]:
    reader, received, start = PacketReader(), [], 0
    for cut in [*sorted(cuts), len(stream)]:
        received += reader.feed(stream[start:cut])
        start = cut
    return received


@settings(max_examples=150, deadline=None)
@given(sent=streams, data=st.data())
def test_packets_read_back_however_the_stream_is_split(
    sent: list[Sent], data: st.DataObject
) -> None:
    stream = b"".join(item.wire for item in sent)
    whole = PacketReader().feed(stream)
    _assert_read_back(sent, whole)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=12), label="cuts")
    assert _feed_in_pieces(stream, cuts) == whole


small_payloads = st.binary(max_size=300)


@settings(max_examples=40, deadline=None)
@given(
    sent=st.lists(
        st.one_of(
            st.builds(
                lambda topic, payload, packet_id: Sent(
                    packets.publish_packet(topic, payload, 1, packet_id),
                    packets.PUBLISH,
                    Publish(topic, payload, 1, packet_id, retain=False),
                ),
                topics,
                small_payloads,
                packet_ids,
            ),
            sent_others(),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_packets_read_back_fed_one_byte_at_a_time(sent: list[Sent]) -> None:
    stream = b"".join(item.wire for item in sent)
    assert _feed_in_pieces(stream, list(range(len(stream)))) == PacketReader().feed(stream)
    _assert_read_back(sent, _feed_in_pieces(stream, list(range(len(stream)))))


def test_a_read_of_many_packets_keeps_the_rest_for_the_next() -> None:
    reader = PacketReader()
    first, second = packets.puback_packet(1), packets.publish_packet("t", b"x" * 200)
    assert reader.feed(first + second[:5]) == [Packet(packets.PUBACK, 0, b"\x00\x01")]
    assert reader.feed(second[5:]) == [Packet(packets.PUBLISH, 0, second[3:])]
    assert reader.feed(b"") == []


# ---- malformed and incomplete input ------------------------------------------------------------


def test_a_five_byte_remaining_length_is_malformed() -> None:
    with pytest.raises(MalformedPacket, match="longer than four bytes"):
        PacketReader().feed(b"\x30\xff\xff\xff\xff\x01")


def test_a_five_byte_remaining_length_is_malformed_even_byte_by_byte() -> None:
    reader = PacketReader()
    for byte in b"\x30\xff\xff\xff":  # so far a valid start of a long packet
        assert reader.feed(bytes([byte])) == []
    with pytest.raises(MalformedPacket):
        reader.feed(b"\x80")  # a fourth length byte that announces a fifth


def test_a_four_byte_remaining_length_waits_for_its_body() -> None:
    reader = PacketReader()
    assert reader.feed(b"\x30\xff\xff\xff\x7f" + b"\x00" * 1000) == []


@pytest.mark.parametrize(
    "wire",
    [
        packets.publish_packet("a/b", b"payload", 1, 77),
        packets.subscribe_packet(3, [("x/#", 1)]),
        packets.connect_packet("client", 30),
        packets.puback_packet(9),
        packets.publish_packet("t", b"y" * 300),  # two length bytes
    ],
)
def test_a_truncated_packet_stays_buffered_until_the_rest_arrives(wire: bytes) -> None:
    for cut in range(len(wire)):
        reader = PacketReader()
        assert reader.feed(wire[:cut]) == [], f"a packet from the first {cut} bytes"
        (packet,) = reader.feed(wire[cut:])
        assert (packet.kind << 4 | packet.flags).to_bytes(1, "big") == wire[:1]
        assert wire.endswith(packet.body)


def _publish(flags: int, body: bytes) -> Packet:
    (packet,) = PacketReader().feed(
        bytes([0x30 | flags]) + packets.remaining_length(len(body)) + body
    )
    return packet


@pytest.mark.parametrize(
    ("flags", "body", "reason"),
    [
        (0x06, b"\x00\x01a\x00\x01hi", "QoS 3"),
        (0x07, b"\x00\x01a\x00\x01", "QoS 3"),  # with RETAIN too
        (0x00, b"", "without a topic"),
        (0x00, b"\x00", "without a topic"),
        (0x00, b"\x00\x05abc", "shorter than"),  # announces 5 topic bytes, carries 3
        (0x02, b"\x00\x03abc\x00", "shorter than"),  # QoS 1 with half a packet identifier
        (0x02, b"\x00\x03abc", "shorter than"),  # QoS 1 without a packet identifier
        (0x00, b"\x00\x02\xff\xfe", "not UTF-8"),
        (0x00, b"\x00\x03a\xc3x", "not UTF-8"),  # a cut two-byte sequence
        (0x00, b"\x00\x00hi", "empty topic"),  # §4.7.3: a topic is at least one character
        (0x02, b"\x00\x01a\x00\x00hi", "identifier 0"),  # §2.3.1: ids are non-zero
    ],
)
def test_malformed_publish_is_refused(flags: int, body: bytes, reason: str) -> None:
    with pytest.raises(MalformedPacket, match=reason):
        packets.parse_publish(_publish(flags, body))


def test_a_publish_with_retain_and_an_empty_payload_parses() -> None:
    assert packets.parse_publish(_publish(0x03, b"\x00\x01a\x00\x2a")) == Publish(
        "a", b"", 1, 42, retain=True
    )


@pytest.mark.parametrize("body", [b"", b"\x00", b"\x00\x00\x00"])
def test_a_connack_of_the_wrong_length_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedPacket, match="2 bytes"):
        packets.connack_return_code(Packet(packets.CONNACK, 0, body))


def test_connack_return_codes() -> None:
    (accepted,) = PacketReader().feed(b"\x20\x02\x00\x00")
    (refused,) = PacketReader().feed(b"\x20\x02\x00\x05")  # 5: not authorized (§3.2.2.3)
    assert packets.connack_return_code(accepted) == 0
    assert packets.connack_return_code(refused) == 5
    assert packets.CONNACK_REFUSALS[5] == "not authorized"


def test_suback_codes_and_packet_ids() -> None:
    (suback,) = PacketReader().feed(b"\x90\x05\x01\x02\x01\x00\x80")
    assert packets.packet_id_of(suback) == 0x0102
    assert packets.suback_codes(suback) == [1, 0, packets.SUBACK_FAILURE]
    with pytest.raises(MalformedPacket, match="without a packet identifier"):
        packets.packet_id_of(Packet(packets.PUBACK, 0, b"\x01"))


def test_encoders_refuse_what_mqtt_cannot_carry() -> None:
    with pytest.raises(ValueError, match="QoS 0 or 1"):
        packets.publish_packet("t", b"", qos=2, packet_id=1)
    with pytest.raises(ValueError, match="packet identifier"):
        packets.publish_packet("t", b"", qos=1)
    with pytest.raises(ValueError, match="65,535"):
        packets.publish_packet("t" * 65_536, b"")
    with pytest.raises(ValueError, match="at least one"):
        packets.subscribe_packet(1, [])
    assert packets.publish_packet("é" * 32_767, b"")[:5] == b"\x30\x80\x80\x04\xff"
