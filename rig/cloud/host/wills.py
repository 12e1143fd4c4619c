"""Which Last Will the broker published when a client went away, read from its log.

The guide (SJ §1.10): "LWT messages sent to AWS IoT reserved topics (topics that begin with $)
are ignored by the AWS IoT Shadows service, but are still processed by subscribed clients".
mosquitto delivers a will like any PUBLISH, but its debug log tells wills apart:

    New client connected from 127.0.0.1:40355 as dev (p2, c1, k60, u'dev').
    Will message specified (44 bytes) (r0, q1).
    \t$aws/things/dev/shadow/update
    ...
    Client dev closed its connection.          <- the will is published right after this line

(with the broker's `Sending PUBLISH ... '$SYS/broker/log/N'` lines for its non-debug log lines
in between). Every end of a connection but a DISCONNECT ("Client dev disconnected.") publishes
the will, including a takeover ("Client dev already connected, closing old connection.", logged
before the new connection's own lines). A will the broker plugin refuses is dropped without a log line, so whoever
acts on a fired will checks the client's right to publish it (rig/cloud/runtime.py).

`WillReader` is fed the log line by line (rig/cloud/host/broker_log.py) and keeps,
per client id, the wills fired and not yet taken, in log order. The shadow service takes one
when it sees the same disconnect line on `$SYS/broker/log/#`, which the broker sends it before
the will itself (docs/cloud-decisions.md S-27).
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from dataclasses import dataclass

CONNECTED = re.compile(r"New client connected from \S+ as (?P<id>\S+) \(")
WILL_SPECIFIED = re.compile(r"Will message specified \((?P<size>\d+) bytes\) \(r\d, q\d\)\.$")
NO_WILL = re.compile(r"No will message specified\.$")
WILL_TOPIC = re.compile(r"^(?:\S+: )?\t(?P<topic>.+)$")
SYS_LOG_PUBLISH = re.compile(r"Sending PUBLISH to \S+ \(d\d, q\d, r\d, m\d+, '\$SYS/")
CLEAN_DISCONNECT = re.compile(r"Client (?P<id>\S+) disconnected\.$")
# Every other way a connection ends (mosquitto 2.0 loop.c, handle_connect.c; "been disconnected by
# administrative action" is the broker plugin's kick, mosquitto's own wording).
CONNECTION_LOST = re.compile(
    r"Client (?P<a>\S+) (?:closed its connection|has exceeded timeout|already connected, closing"
    r" old connection|disconnected due to|disconnected, not authorised"
    r"|been disconnected by administrative action)"
    r"|(?:Socket error|Bad socket read/write) on client (?P<b>\S+)[,:]"
)
# A fired will not taken within this long is dropped (its $SYS line was lost, or nobody asked).
FIRED_TTL_S = 30.0


@dataclass(frozen=True)
class Will:
    """A client's Last Will as the broker holds it: the topic and the payload's size."""

    topic: str
    size: int


def lost_connection_client(line: str) -> str | None:
    """The client id whose connection ended without a DISCONNECT on this log line, if any."""
    match = CONNECTION_LOST.search(line)
    return None if match is None else match["a"] or match["b"]


class WillReader:
    """Each client's will from the broker's log, and the wills fired since (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, Will] = {}  # client id -> the will of its open connection
        self._fired: dict[str, deque[tuple[Will, float]]] = {}
        self._connecting: str | None = None  # the client whose CONNECT lines are being read
        self._size: int | None = None

    def feed(self, line: str) -> None:
        with self._lock:
            self._feed(line)

    def _feed(self, line: str) -> None:
        if SYS_LOG_PUBLISH.search(line):
            return  # the broker sending a log line on $SYS: between any two lines
        if self._connecting is not None:
            if self._size is not None:  # the line after "Will message specified": its topic
                topic = WILL_TOPIC.match(line)
                if topic:
                    self._held[self._connecting] = Will(topic["topic"], self._size)
                self._connecting = self._size = None
                return
            specified = WILL_SPECIFIED.search(line)
            if specified:
                self._size = int(specified["size"])
                return
            self._connecting = None
            if NO_WILL.search(line):
                return
        connected = CONNECTED.search(line)
        if connected:
            self._held.pop(connected["id"], None)
            self._connecting = connected["id"]
            return
        clean = CLEAN_DISCONNECT.search(line)
        if clean:
            self._held.pop(clean["id"], None)
            return
        client_id = lost_connection_client(line)
        if client_id is not None:
            will = self._held.pop(client_id, None)
            if will is not None:
                self._fired.setdefault(client_id, deque()).append((will, time.monotonic()))

    def take_fired(self, client_id: str) -> Will | None:
        """The oldest will `client_id`'s lost connections fired that nobody took yet."""
        with self._lock:
            fired = self._fired.get(client_id)
            now = time.monotonic()
            while fired:
                will, at = fired.popleft()
                if now - at <= FIRED_TTL_S:
                    return will
            self._fired.pop(client_id, None)
            return None
