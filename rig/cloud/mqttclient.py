"""How the rig's paho clients talk to the broker: latency settings shared by all of them, topic
filters compiled once, and the cloud service's batch-reading client."""

from __future__ import annotations

import contextlib
import re
import select
import socket
from collections.abc import Callable, Iterator
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode


def _no_delay(_client: mqtt.Client, _userdata: Any, sock: Any) -> None:
    # paho writes each MQTT packet separately (a PUBACK, then the next PUBLISH): with Nagle on,
    # the second waits for the peer's delayed ACK, about 40 ms per round trip.
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def disable_nagle(client: mqtt.Client) -> None:
    """Set TCP_NODELAY on the client's socket each time it (re)connects."""
    client.on_socket_open = _no_delay


def topic_filter_pattern(topic_filter: str) -> re.Pattern[str]:
    """A regex that `fullmatch`es exactly the topics `topic_filter` matches (MQTT 3.1.1 §4.7).

    Same answers as `paho.mqtt.client.topic_matches_sub`, which builds a matcher tree on every
    call (~8 µs); a compiled pattern answers in well under a microsecond. `+` is one level (may
    be empty), a trailing `#` is the parent level and everything below it, and a filter that
    starts with a wildcard never matches a topic that starts with `$`.
    """
    levels = topic_filter.split("/")
    tail = ""
    if levels[-1] == "#":
        levels.pop()
        tail = "(?:/.*)?" if levels else ".*"
    body = "/".join("[^/]*" if level == "+" else re.escape(level) for level in levels)
    guard = r"(?!\$)" if topic_filter[:1] in ("+", "#") else ""
    return re.compile(guard + body + tail, re.DOTALL)


@contextlib.contextmanager
def _corked(sock: Any) -> Iterator[None]:
    cork = getattr(socket, "TCP_CORK", None)  # Linux only; elsewhere each packet goes alone
    if cork is None:
        yield
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, cork, 1)
    except OSError:
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, cork, 0)


class BatchReadingClient(mqtt.Client):
    """A paho client that calls `after_read` on its network thread after every read, and can
    tell whether more bytes are already waiting (`unread_bytes`) and write at once (`flush`).

    A service that answers requests on the network thread uses these to take in a whole burst
    before answering (so requests that arrived together are in flight together, for 429) and to
    write each answer at once: no hand-over to another thread, no wait for the next select().
    """

    after_read: Callable[[], None] | None = None

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        if self.after_read is not None:
            self.after_read()
        return rc

    def unread_bytes(self) -> bool:
        """Whether bytes have arrived that no read has taken in yet (the loop reads them next)."""
        sock = self.socket()
        if sock is None:
            return False
        pending = getattr(sock, "pending", None)  # bytes TLS already decrypted and buffered
        if pending is not None and pending() > 0:
            return True
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):  # closed under us: the loop notices and reconnects
            return False
        return bool(readable)

    def flush(self) -> None:
        """Write the queued packets now, in one TCP segment when they fit. Only on the network
        thread (from a callback or `after_read`), where nothing else uses the socket meanwhile.

        paho writes each packet with its own send(): on loopback each one wakes the broker,
        which costs more than the TLS record itself (~0.1 ms here). TCP_CORK holds the segments
        back until the last packet is written, so a PUBACK and its replies wake the broker once.
        """
        sock = self.socket()
        if sock is None or not self.want_write():
            return
        with _corked(sock):
            self.loop_write()
