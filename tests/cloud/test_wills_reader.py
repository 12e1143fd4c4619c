"""rig/cloud/host/wills.py on mosquitto 2.0.11's own log lines (taken from a run with log_type all)."""

from __future__ import annotations

from rig.cloud.host.wills import Will, WillReader, lost_connection_client

T = "2026-12-01T21:58:29: "
SYS = (
    T + "Sending PUBLISH to buttonrig-cloud (d0, q0, r0, m0, '$SYS/broker/log/N', ... (71 bytes))"
)


def _reader(*lines: str) -> WillReader:
    reader = WillReader()
    for line in lines:
        reader.feed(line)
    return reader


def _connect(client: str, will: tuple[int, str] | None) -> list[str]:
    lines = [
        T + f"New client connected from 127.0.0.1:42262 as {client} (p2, c1, k60, u'{client}').",
        SYS,  # the broker publishes each non-debug log line on $SYS, between the CONNECT lines
    ]
    if will is None:
        lines.append(T + "No will message specified.")
    else:
        lines += [T + f"Will message specified ({will[0]} bytes) (r0, q1).", T + "\t" + will[1]]
    return [*lines, T + f"Sending CONNACK to {client} (0, 0)"]


def test_a_lost_connection_fires_the_will_it_connected_with() -> None:
    topic = "$aws/things/t1/shadow/update"
    reader = _reader(*_connect("t1", (30, topic)), T + "Client t1 closed its connection.", SYS)
    assert reader.take_fired("t1") == Will(topic, 30)
    assert reader.take_fired("t1") is None, "taken once"


def test_every_way_of_losing_a_connection_fires_it_but_a_disconnect_does_not() -> None:
    lost = [
        "Client t1 closed its connection.",
        "Client t1 has exceeded timeout, disconnecting.",
        "Client t1 already connected, closing old connection.",
        "Client t1 disconnected due to protocol error.",
        "Socket error on client t1, disconnecting.",
    ]
    for line in lost:
        assert lost_connection_client(T + line) == "t1", line
        reader = _reader(*_connect("t1", (2, "a/b")), T + line)
        assert reader.take_fired("t1") == Will("a/b", 2), line
    clean = _reader(*_connect("t1", (2, "a/b")), T + "Client t1 disconnected.")
    assert lost_connection_client(T + "Client t1 disconnected.") is None
    assert clean.take_fired("t1") is None


def test_a_connection_without_a_will_fires_nothing_even_after_one_with() -> None:
    reader = _reader(
        *_connect("t1", (2, "a/b")),
        T + "Client t1 disconnected.",
        *_connect("t1", None),
        T + "Client t1 closed its connection.",
    )
    assert reader.take_fired("t1") is None


def test_a_takeover_fires_the_old_connections_will_not_the_new_ones() -> None:
    """mosquitto logs the takeover before the new connection's own lines."""
    reader = _reader(
        *_connect("t1", (5, "old/will")),
        T + "New connection from 127.0.0.1:47319 on port 18831.",
        T + "Client t1 already connected, closing old connection.",
        *_connect("t1", (7, "new/will")),
        T + "Client t1 closed its connection.",
    )
    assert reader.take_fired("t1") == Will("old/will", 5)
    assert reader.take_fired("t1") == Will("new/will", 7)
    assert reader.take_fired("t2") is None
