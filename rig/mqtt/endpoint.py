"""Where a client reaches a broker and with which identity: plain data, below the broker
launcher (rig/broker.py), the MQTT link and every client of the rig."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ClientIdentity:
    """A client certificate and key (PEM files) used to reach the broker."""

    cert_file: Path
    key_file: Path


@dataclass(frozen=True)
class BrokerEndpoint:
    """Where clients connect: host, port, and the CA that signed the server certificate."""

    host: str
    port: int
    ca_file: Path
    server_hostname: str = "localhost"
