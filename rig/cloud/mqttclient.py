"""How the rig's paho clients talk to the broker (latency settings shared by all of them), and
topic filters compiled once. The cloud service itself uses rig/cloud/mqttlink.py."""

from __future__ import annotations

import contextlib
import re
import socket
from typing import Any

import paho.mqtt.client as mqtt


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
