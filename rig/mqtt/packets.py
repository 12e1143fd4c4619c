"""The MQTT 3.1.1 packets the cloud service's link sends and reads, spelled out (OASIS MQTT 3.1.1,
§2 fixed header and remaining length, §3 the packets).

Only what a client with QoS 0 and 1 needs: CONNECT / CONNACK, SUBSCRIBE / SUBACK,
PUBLISH / PUBACK, PINGREQ / PINGRESP, DISCONNECT. `PacketReader` cuts a byte stream into packets
however it was split into reads; the parse functions raise `MalformedPacket` for anything the
specification does not allow, which the link answers by dropping the connection (§4.8).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

CONNECT = 1
CONNACK = 2
PUBLISH = 3
PUBACK = 4
SUBSCRIBE = 8
SUBACK = 9
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14

MAX_REMAINING_LENGTH = 268_435_455  # four length bytes (§2.2.3)
SUBACK_FAILURE = 0x80

PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"

CONNACK_REFUSALS = {
    1: "unacceptable protocol version",
    2: "identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}


class MalformedPacket(ValueError):
    """Bytes from the broker that are not a valid MQTT 3.1.1 packet."""


class Packet(NamedTuple):  # tuples: one is made per packet, on the network thread
    kind: int  # the packet type, high nibble of the first byte
    flags: int  # the low nibble
    body: bytes  # variable header and payload


class Publish(NamedTuple):
    topic: str
    payload: bytes
    qos: int
    packet_id: int  # 0 for QoS 0
    retain: bool


def remaining_length(length: int) -> bytes:
    """The variable-length encoding of §2.2.3: seven bits a byte, low bits first."""
    if not 0 <= length <= MAX_REMAINING_LENGTH:
        raise ValueError(f"an MQTT packet cannot carry {length} bytes")
    out = bytearray()
    while True:
        digit, length = length & 0x7F, length >> 7
        out.append(digit | 0x80 if length else digit)
        if not length:
            return bytes(out)


def _string(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    if len(data) > 0xFFFF:
        raise ValueError("an MQTT string holds at most 65,535 bytes")
    return struct.pack("!H", len(data)) + data


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes((first_byte,)) + remaining_length(len(body)) + body


def connect_packet(
    client_id: str,
    keepalive_s: int,
    will: tuple[str, bytes] | None = None,
    clean_session: bool = True,
) -> bytes:
    """CONNECT with protocol level 4, clean session unless told otherwise, and a QoS 1 will
    (topic, message) when given; no user name or password (the broker takes the identity from
    the client certificate)."""
    flags, payload = (0x02 if clean_session else 0x00), _string(client_id)
    if will is not None:
        flags |= 0x04 | (1 << 3)  # will flag, will QoS 1
        payload += _string(will[0]) + _string(will[1])
    variable_header = _string("MQTT") + bytes((4, flags)) + struct.pack("!H", keepalive_s)
    return _packet(CONNECT << 4, variable_header + payload)


def subscribe_packet(packet_id: int, filters: list[tuple[str, int]]) -> bytes:
    if not filters:
        raise ValueError("a SUBSCRIBE needs at least one topic filter")
    body = struct.pack("!H", packet_id)
    body += b"".join(_string(topic_filter) + bytes((qos,)) for topic_filter, qos in filters)
    return _packet((SUBSCRIBE << 4) | 0x02, body)


def publish_packet(
    topic: str, payload: bytes, qos: int = 0, packet_id: int = 0, dup: bool = False
) -> bytes:
    if qos not in (0, 1):
        raise ValueError(f"the link publishes at QoS 0 or 1, not {qos}")
    if qos and not packet_id:
        raise ValueError("a QoS 1 PUBLISH needs a packet identifier")
    first = (PUBLISH << 4) | (qos << 1) | (0x08 if dup else 0)
    header = _string(topic) + (struct.pack("!H", packet_id) if qos else b"")
    return _packet(first, header + payload)


def puback_packet(packet_id: int) -> bytes:
    return b"\x40\x02" + struct.pack("!H", packet_id)


class PacketReader:
    """Whole packets out of a byte stream, however it was split into reads."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Packet]:
        buffer = self._buffer
        buffer += data
        packets: list[Packet] = []
        start = 0
        end = len(buffer)
        while end - start >= 2:
            length, shift, index, complete = 0, 0, start + 1, False
            while index < end:
                digit = buffer[index]
                index += 1
                length |= (digit & 0x7F) << shift
                if not digit & 0x80:
                    complete = True
                    break
                shift += 7
                if shift == 28:
                    raise MalformedPacket("remaining length longer than four bytes")
            if not complete or end - index < length:
                break  # the rest of this packet is still on its way
            first = buffer[start]
            packets.append(Packet(first >> 4, first & 0x0F, bytes(buffer[index : index + length])))
            start = index + length
        del buffer[:start]
        return packets


def parse_publish(packet: Packet) -> Publish:
    qos = (packet.flags >> 1) & 0x03
    if qos == 3:
        raise MalformedPacket("PUBLISH with QoS 3")
    body = packet.body
    if len(body) < 2:
        raise MalformedPacket("PUBLISH without a topic")
    (topic_length,) = struct.unpack_from("!H", body)
    position = 2 + topic_length
    if len(body) < position + (2 if qos else 0):
        raise MalformedPacket("PUBLISH shorter than its topic and packet identifier")
    if not topic_length:
        raise MalformedPacket("PUBLISH with an empty topic")  # §4.7.3
    try:
        topic = body[2:position].decode()
    except UnicodeDecodeError as exc:
        raise MalformedPacket("PUBLISH topic is not UTF-8") from exc
    packet_id = 0
    if qos:
        (packet_id,) = struct.unpack_from("!H", body, position)
        position += 2
        if not packet_id:
            raise MalformedPacket("QoS 1 PUBLISH with packet identifier 0")  # §2.3.1
    return Publish(topic, body[position:], qos, packet_id, bool(packet.flags & 0x01))


def packet_id_of(packet: Packet) -> int:
    """The packet identifier of a PUBACK or SUBACK."""
    if len(packet.body) < 2:
        raise MalformedPacket(f"packet type {packet.kind} without a packet identifier")
    return struct.unpack_from("!H", packet.body)[0]


def suback_codes(packet: Packet) -> list[int]:
    """The granted QoS (or 0x80, failure) of each filter of the SUBSCRIBE."""
    return list(packet.body[2:])


def connack_return_code(packet: Packet) -> int:
    if len(packet.body) != 2:
        raise MalformedPacket("CONNACK must be 2 bytes long")
    return packet.body[1]
