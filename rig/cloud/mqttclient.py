"""How the rig's paho clients talk to the broker: latency settings shared by all of them."""

from __future__ import annotations

import contextlib
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
