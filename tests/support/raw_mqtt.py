"""An MQTT connection the test can drop without DISCONNECT, as a network failure looks."""

from __future__ import annotations

import socket
import ssl
import struct

from rig.broker import BrokerEndpoint, ClientIdentity


def _str(data: bytes) -> bytes:
    return struct.pack("!H", len(data)) + data


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def raw_connect(
    endpoint: BrokerEndpoint, identity: ClientIdentity, will: tuple[str, bytes]
) -> ssl.SSLSocket:
    """An MQTT 3.1.1 connection with a QoS 1 will; `close()` it to drop it without DISCONNECT.
    The broker names the client after the certificate's CN (`use_identity_as_username`)."""
    context = ssl.create_default_context(cafile=str(endpoint.ca_file))
    context.load_cert_chain(str(identity.cert_file), str(identity.key_file))
    raw = socket.create_connection((endpoint.host, endpoint.port), timeout=20)
    tls = context.wrap_socket(raw, server_hostname=endpoint.server_hostname)
    # protocol level 4; flags 0x0e = clean session, will, will QoS 1; keepalive 60 s
    body = b"\x00\x04MQTT\x04\x0e\x00\x3c" + _str(b"x") + _str(will[0].encode()) + _str(will[1])
    tls.sendall(b"\x10" + _remaining_length(len(body)) + body)
    connack = tls.recv(4)
    assert connack[:1] == b"\x20" and connack[3:4] == b"\x00", f"CONNACK {connack!r}"
    return tls
