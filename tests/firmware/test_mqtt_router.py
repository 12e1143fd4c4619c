"""The topic router of firmware/mqtt.py (`Client.route`) on the unix port.

A scripted broker over plain TCP (the router does not depend on TLS, so the client's context
hands the socket back unwrapped) answers CONNECT and SUBSCRIBE, records which filters each
session subscribed and sends PUBLISHes of its choosing, matched or not: a real broker would
only send what matches. Its first connection ends with a hang-up, so the client's routes must be
subscribed again on the second. The wildcard matching itself is compared with paho's.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
from dataclasses import dataclass, field

import paho.mqtt.client as paho

from host.paths import FIRMWARE_DIR
from rig.unix_port.process import run_mp


def _read_packet(conn: socket.socket) -> tuple[int, bytes]:
    """One MQTT packet: (first byte, body)."""

    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise ConnectionError("client closed")
            data += chunk
        return data

    first = exactly(1)[0]
    length, shift = 0, 0
    while True:
        digit = exactly(1)[0]
        length |= (digit & 0x7F) << shift
        if not digit & 0x80:
            break
        shift += 7
    return first, exactly(length)


def _publish(topic: str, payload: bytes) -> bytes:
    body = struct.pack("!H", len(topic)) + topic.encode() + payload
    assert len(body) < 128
    return bytes((0x30, len(body))) + body


@dataclass
class ScriptedBroker:
    """Connection i: CONNACK, a SUBACK for each SUBSCRIBE until `routes` filters are in, the
    PUBLISHes of `sessions[i]` (QoS 0), then a hang-up unless it is the last."""

    sessions: list[list[tuple[str, bytes]]]
    routes: int
    subscribed: list[set[str]] = field(default_factory=list)  # filters, per connection

    def __post_init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            for i, publishes in enumerate(self.sessions):
                conn, _ = self.listener.accept()
                with conn:
                    first, _ = _read_packet(conn)
                    assert first == 0x10, "expected CONNECT"
                    conn.sendall(b"\x20\x02\x00\x00")
                    filters: set[str] = set()
                    self.subscribed.append(filters)
                    while len(filters) < self.routes:
                        first, body = _read_packet(conn)
                        assert first == 0x82, "expected SUBSCRIBE"
                        (n,) = struct.unpack_from("!H", body, 2)
                        filters.add(body[4 : 4 + n].decode())
                        conn.sendall(b"\x90\x03" + body[:2] + body[4 + n :])  # granted as asked
                    for topic, payload in publishes:
                        conn.sendall(_publish(topic, payload))
                    if i == len(self.sessions) - 1:
                        while conn.recv(4096):  # until the client is done
                            pass

    def close(self) -> None:
        self.listener.close()


ROUTER = """
import asyncio, mqtt

class Plain:
    # a TLS context that leaves the socket as it is
    def wrap_socket(self, sock, **kw):
        return sock

done = asyncio.Event()

def handler(name):
    def on_message(topic, payload):
        print("GOT", name, topic.decode(), payload.decode())
        if payload == b"bye":
            done.set()
    return on_message

async def sessions(c):
    while True:
        try:
            await c.session()
        except mqtt.Fault as e:
            print("DOWN", e.kind, e.detail)
        await asyncio.sleep_ms(50)

async def main():
    c = mqtt.Client("router-test", "127.0.0.1", %d, Plain())
    await c.route("dev/shadow/#", handler("shadow"))
    await c.route("dev/jobs/+/notify", handler("jobs"))
    await c.route("+/jobs/#", handler("audit"), 0)
    asyncio.create_task(sessions(c))
    await asyncio.wait_for_ms(done.wait(), 20000)
    print("DONE")

asyncio.run(main())
"""


def test_each_route_gets_the_topics_it_matches_and_is_subscribed_again_after_a_reconnect() -> None:
    broker = ScriptedBroker(
        sessions=[
            [
                ("dev/shadow/update/delta", b"s1"),
                ("dev/jobs/42/notify", b"j1"),  # two routes match it: both get it
                ("dev/jobs/42/other", b"a1"),
                ("elsewhere/x", b"nobody"),  # no route matches: dropped
            ],
            [
                ("dev/jobs/7/notify", b"j2"),
                ("dev/shadow/get/accepted", b"bye"),
            ],
        ],
        routes=3,
    )
    try:
        lines = run_mp(ROUTER % broker.port, path=(FIRMWARE_DIR,), timeout=60)
    finally:
        broker.close()
    assert lines[-1] == "DONE", lines
    down = [i for i, line in enumerate(lines) if line.startswith("DOWN")]
    assert [lines[i] for i in down] == ["DOWN closed eof"], lines
    first, second = set(lines[: down[0]]), set(lines[down[0] + 1 : -1])
    # a route's handlers run in no particular order: MicroPython's dict keeps none
    assert first == {
        "GOT shadow dev/shadow/update/delta s1",
        "GOT jobs dev/jobs/42/notify j1",
        "GOT audit dev/jobs/42/notify j1",
        "GOT audit dev/jobs/42/other a1",
    }
    assert second == {
        "GOT jobs dev/jobs/7/notify j2",
        "GOT audit dev/jobs/7/notify j2",
        "GOT shadow dev/shadow/get/accepted bye",
    }
    routes = {"dev/shadow/#", "dev/jobs/+/notify", "+/jobs/#"}
    assert broker.subscribed == [routes, routes]


FILTERS = ["#", "+", "a/#", "a/+", "a/+/c", "+/b/#", "a/b", "+/+", "$aws/#", "$aws/+/x", "a/b/#"]
TOPICS = ["a", "a/b", "a/b/c", "a/", "/b", "a/b/c/d", "x/b", "$aws/t/x", "$SYS/x", "b/b/c", ""]


def test_wildcard_matching_agrees_with_paho() -> None:
    lines = run_mp(
        """
import json, sys, mqtt
cases = json.load(open(sys.argv[1]))
print(json.dumps([mqtt.topic_matches(f, t) for f, t in cases]))
""",
        [[f, t] for f in FILTERS for t in TOPICS],
        path=(FIRMWARE_DIR,),
    )
    got = dict(zip([(f, t) for f in FILTERS for t in TOPICS], json.loads(lines[0]), strict=True))
    expected = {(f, t): paho.topic_matches_sub(f, t) for f in FILTERS for t in TOPICS}
    assert got == expected
