"""An MQTT connection the test can drop without DISCONNECT, as a network failure looks."""

from __future__ import annotations

import socket
import ssl

from rig.mqtt.endpoint import BrokerEndpoint, ClientIdentity
from rig.mqtt.handshake import common_name_of
from rig.mqtt.packets import connect_packet


def raw_connect(
    endpoint: BrokerEndpoint, identity: ClientIdentity, will: tuple[str, bytes]
) -> ssl.SSLSocket:
    """An MQTT 3.1.1 connection with a QoS 1 will; `close()` it to drop it without DISCONNECT.
    The client id is the certificate's CN (the thing name of a provisioned button)."""
    context = ssl.create_default_context(cafile=str(endpoint.ca_file))
    context.load_cert_chain(str(identity.cert_file), str(identity.key_file))
    raw = socket.create_connection((endpoint.host, endpoint.port), timeout=20)
    tls = context.wrap_socket(raw, server_hostname=endpoint.server_hostname)
    tls.sendall(connect_packet(common_name_of(identity), 60, will))
    connack = tls.recv(4)
    assert connack[:1] == b"\x20" and connack[3:4] == b"\x00", f"CONNACK {connack!r}"
    return tls
