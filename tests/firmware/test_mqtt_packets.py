"""MQTT 3.1.1 packet encoding/decoding of firmware/mqtt.py and the fault classification of
firmware/fault.py, run under CPython."""

from __future__ import annotations

import importlib
import struct
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from host.paths import FIRMWARE_DIR

sys.path.insert(0, str(FIRMWARE_DIR))
mqtt = importlib.import_module("mqtt")  # the firmware module, run by CPython
fault = importlib.import_module("fault")


@pytest.mark.parametrize(
    ("n", "encoded"),
    [
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (16383, b"\xff\x7f"),
        (16384, b"\x80\x80\x01"),
        (268435455, b"\xff\xff\xff\x7f"),
    ],
)
def test_remaining_length_matches_the_spec_examples(n: int, encoded: bytes) -> None:
    assert mqtt.encode_length(n) == encoded
    assert mqtt.decode_length(encoded, 0) == (n, len(encoded))


@given(st.integers(min_value=0, max_value=268435455))
def test_remaining_length_round_trips(n: int) -> None:
    enc = mqtt.encode_length(n)
    assert mqtt.decode_length(b"\x30" + enc, 1) == (n, 1 + len(enc))


def test_remaining_length_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError):
        mqtt.encode_length(268435456)
    with pytest.raises(fault.Fault):
        mqtt.decode_length(b"\xff\xff\xff\xff\x01", 0)
    assert mqtt.decode_length(b"\x80", 0) is None  # incomplete


def test_connect_asks_for_a_clean_session_mqtt_311() -> None:
    pkt = mqtt.connect_packet("G030JF055364XVRB", 60)
    assert pkt[0] == 0x10
    body = pkt[2:]
    assert body[:6] == b"\x00\x04MQTT"
    assert body[6] == 4  # protocol level 3.1.1
    assert body[7] == 0x02  # clean session only: no will, no user, no retain
    assert struct.unpack("!H", body[8:10])[0] == 60
    assert body[10:] == b"\x00\x10G030JF055364XVRB"
    assert pkt[1] == len(body)


def test_publish_qos1_carries_a_packet_id_and_dup_only_when_asked() -> None:
    p = mqtt.publish_packet("iotbutton/X", b'{"a":1}', 1, 7)
    assert p[0] == 0x32  # QoS 1, no DUP, never RETAIN
    d = mqtt.publish_packet("iotbutton/X", b'{"a":1}', 1, 7, dup=True)
    assert d[0] == 0x3A and d[1:] == p[1:]
    topic, payload, qos, pid, dup = mqtt.parse_publish(d[0] & 0x0F, d[2:])
    assert (topic, payload, qos, pid, dup) == (b"iotbutton/X", b'{"a":1}', 1, 7, True)
    q0 = mqtt.publish_packet("t", "x")
    assert q0 == b"\x30\x04\x00\x01tx"


def test_publish_refuses_qos2() -> None:
    with pytest.raises(ValueError):
        mqtt.publish_packet("t", b"x", 2, 1)


def test_subscribe_unsubscribe_puback_layout() -> None:
    assert mqtt.subscribe_packet(3, "a/b", 1) == b"\x82\x08\x00\x03\x00\x03a/b\x01"
    assert mqtt.unsubscribe_packet(4, "a/b") == b"\xa2\x07\x00\x04\x00\x03a/b"
    assert mqtt.puback_packet(258) == b"\x40\x02\x01\x02"


@given(st.binary(max_size=64), st.integers(min_value=0, max_value=15))
def test_parse_publish_never_crashes_on_hostile_bodies(body: bytes, flags: int) -> None:
    try:
        topic, payload, qos, pid, _ = mqtt.parse_publish(flags, body)
    except fault.Fault as e:
        assert e.kind == "protocol"
    else:
        assert qos in (0, 1)
        assert len(topic) + len(payload) + 2 + (2 if qos else 0) == len(body)
        assert pid >= 0


@pytest.mark.parametrize(
    ("rc", "kind"),
    [(1, "connect"), (2, "connect"), (3, "connect"), (4, "forbidden"), (5, "forbidden")],
)
def test_refused_connack_codes_map_to_failure_classes(rc: int, kind: str) -> None:
    refused = fault.from_connack(rc)
    assert (refused.kind, refused.detail) == (kind, f"CONNACK rc={rc}")


@given(st.integers(min_value=0, max_value=40), st.integers(min_value=0, max_value=65535))
def test_backoff_is_jittered_exponential_and_capped(attempt: int, r: int) -> None:
    span = min(60000, 1000 << min(attempt, 16))
    d = fault.backoff_ms(attempt, 1000, 60000, r)
    assert span // 2 <= d <= span


@pytest.mark.parametrize(
    ("kind", "led"),
    [
        ("wifi", "err_wifi"),
        ("dhcp", "err_dhcp"),
        ("dns", "err_dns"),
        ("connect", "err_connect"),
        ("timeout", "err_connect"),
        ("closed", "err_connect"),
        ("protocol", "err_connect"),
        ("tls", "err_tls"),
        ("forbidden", "err_forbidden"),
        ("anything else", "err_connect"),
    ],
)
def test_each_fault_kind_shows_its_led_pattern(kind: str, led: str) -> None:
    assert fault.Fault(kind).led() == led
