"""One MQTT 3.1.1 CONNECT over mutual TLS, to learn whether a broker accepts an identity: the
CONNACK return code (0 accepted, 5 not authorized), or why the connection failed. Used to check
a broker is up (readiness), and by tests and benchmarks of the broker's CONNECT decisions."""

from __future__ import annotations

import contextlib
import socket
import ssl

from cryptography import x509
from cryptography.x509.oid import NameOID

from rig.mqtt.endpoint import BrokerEndpoint, ClientIdentity
from rig.mqtt.packets import connect_packet


class HandshakeError(ConnectionError):
    """The broker answered the CONNECT with something other than a CONNACK."""


def common_name_of(identity: ClientIdentity) -> str:
    """The CN of the identity's certificate ("" when it has none)."""
    certificate = x509.load_pem_x509_certificate(identity.cert_file.read_bytes())
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def mqtt_handshake(
    endpoint: BrokerEndpoint,
    identity: ClientIdentity,
    timeout: float,
    client_id: str | None = None,
) -> int:
    """Open an mTLS connection, send an MQTT 3.1.1 CONNECT with `client_id` (by default the
    certificate's CN, the thing name of the certificates the rig provisions), return the
    CONNACK return code.

    Raises OSError / ssl.SSLError when the TLS handshake or the socket fails.
    """
    if client_id is None:
        client_id = common_name_of(identity)
    context = ssl.create_default_context(cafile=str(endpoint.ca_file))
    context.load_cert_chain(str(identity.cert_file), str(identity.key_file))
    with (
        socket.create_connection((endpoint.host, endpoint.port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=endpoint.server_hostname) as tls,
    ):
        tls.sendall(connect_packet(client_id, keepalive_s=10))
        connack = _read_exactly(tls, 4)
        if connack[0] != 0x20:
            raise HandshakeError(f"expected CONNACK, got packet type 0x{connack[0]:02x}")
        with contextlib.suppress(OSError):
            tls.sendall(b"\xe0\x00")  # DISCONNECT
        return connack[3]


def _read_exactly(sock: ssl.SSLSocket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(data)} of {count} bytes")
        data += chunk
    return data


def connection_problem(
    endpoint: BrokerEndpoint,
    identity: ClientIdentity,
    timeout: float = 5.0,
    client_id: str | None = None,
) -> str | None:
    """Why an mTLS connection with `identity` (and `client_id`, by default the certificate's CN)
    is not accepted, or None when it is (CONNACK 0)."""
    try:
        code = mqtt_handshake(endpoint, identity, timeout, client_id)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if code == 0 else f"the broker refused the connection (CONNACK code {code})"


def can_connect(
    endpoint: BrokerEndpoint,
    identity: ClientIdentity,
    timeout: float = 5.0,
    client_id: str | None = None,
) -> bool:
    """True when an mTLS connection with `identity` and `client_id` is accepted (CONNACK 0)."""
    return connection_problem(endpoint, identity, timeout, client_id) is None
