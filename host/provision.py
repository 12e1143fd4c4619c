"""Put a button's identity on it over the raw REPL: certificate, private key, root CA (DER),
Wi-Fi and endpoint, and the label (`serial`).

The on-flash format has one owner, the firmware: this tool calls `certs.commit()` and
`netcfg.encode()` on the device (firmware/certs.py, firmware/netcfg.py), so certificates, key,
CA and network configuration are replaced together or not at all. Keys are converted to DER here
(`cryptography`), because the boards have no PEM parser (docs/architecture.md decision 6).

It takes plain data (an `Identity`, a `NetworkConfig`, a label) and knows no cloud: where the
credentials come from is the caller's business (files, or a cloud that issues them).

Secrets (the private key, the Wi-Fi password) are sent to the board only as data, never printed,
never put in an exception message, and hidden from the dataclasses' repr.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from mpremote.transport_serial import SerialTransport

from host.transport import TransportExecError, raw_repl

SEND_CHUNK = 256  # bytes of a secret per raw-REPL exec: small code objects for the ESP32's heap
DEFAULT_MQTT_PORT = 8883


class ProvisionError(Exception):
    """Provisioning refused or failed; the message names fields and files, never secret values."""


@dataclass(frozen=True)
class Identity:
    """A thing's credentials, all DER."""

    certificate_der: bytes
    private_key_der: bytes = field(repr=False)
    ca_der: bytes


@dataclass(frozen=True)
class NetworkConfig:
    ssid: str
    password: str = field(repr=False)
    host: str
    port: int = DEFAULT_MQTT_PORT


def certificate_der(data: bytes, what: str) -> bytes:
    """A certificate (PEM or DER) as DER."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)
        return x509.load_der_x509_certificate(data).public_bytes(serialization.Encoding.DER)
    except ValueError:
        raise ProvisionError(f"{what} is not an X.509 certificate (PEM or DER)") from None


def private_key_der(data: bytes, what: str) -> bytes:
    """A private key (PEM or DER, unencrypted) as PKCS#8 DER."""
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_private_key(data, password=None)
        else:
            key = serialization.load_der_private_key(data, password=None)
    except (ValueError, TypeError):
        # never chain the parser's exception: its message could quote the input
        raise ProvisionError(f"{what} is not an unencrypted private key (PEM or DER)") from None
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _public_der(public_key: Any) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def identity_from_bytes(
    cert: bytes, key: bytes, ca: bytes, names: tuple[str, str, str]
) -> Identity:
    """Convert and check that the key belongs to the certificate (a mismatch fails the TLS
    handshake on the board with a far less helpful message)."""
    cert_der = certificate_der(cert, names[0])
    key_der = private_key_der(key, names[1])
    ca_der = certificate_der(ca, names[2])
    certificate_key = _public_der(x509.load_der_x509_certificate(cert_der).public_key())
    private_key = serialization.load_der_private_key(key_der, password=None)
    if _public_der(private_key.public_key()) != certificate_key:
        raise ProvisionError(f"the private key in {names[1]} does not belong to {names[0]}")
    return Identity(cert_der, key_der, ca_der)


def identity_from_files(cert: Path, key: Path, ca: Path) -> Identity:
    for path in (cert, key, ca):
        if not path.is_file():
            raise ProvisionError(f"{path} does not exist")
    return identity_from_bytes(
        cert.read_bytes(), key.read_bytes(), ca.read_bytes(), (str(cert), str(key), str(ca))
    )


def _send(transport: SerialTransport, var: str, data: bytes) -> None:
    """Build `var` on the board from chunks, so no single exec holds a large literal."""
    transport.exec(f"{var} = b''")
    for i in range(0, len(data), SEND_CHUNK):
        transport.exec(f"{var} += {data[i : i + SEND_CHUNK]!r}")


def _run(transport: SerialTransport, code: str, what: str) -> None:
    try:
        transport.exec(code)
    except TransportExecError as exc:
        # The last traceback line names the exception; the firmware's messages hold no secrets.
        last = exc.error_output.strip().splitlines()[-1:] or ["no error text"]
        raise ProvisionError(f"{what} failed on the board: {last[0]}") from None


def provision(
    transport: SerialTransport,
    identity: Identity | None = None,
    network: NetworkConfig | None = None,
    serial_label: str | None = None,
    log: Callable[[str], None] = print,
) -> list[str]:
    """Write what is given; returns what was written (names, never values).

    Interrupts the firmware; it stays at the REPL until the board is reset.
    """
    if identity is None and network is None and serial_label is None:
        raise ProvisionError("nothing to provision: give an identity, a network or a serial label")
    written: list[str] = []
    with raw_repl(transport):
        _run(transport, "import certs, netcfg, store\n_p = {}", "importing certs/netcfg")
        if identity is not None:
            for var, data in (
                ("_c", identity.certificate_der),
                ("_k", identity.private_key_der),
                ("_a", identity.ca_der),
            ):
                _send(transport, var, data)
            _run(
                transport,
                "_p[certs.CERT] = _c\n_p[certs.KEY] = _k\n_p[certs.CA] = _a\ndel _c, _k, _a",
                "staging the certificates",
            )
            written += ["certificate", "private key", "root CA"]
        if network is not None:
            _send(transport, "_w", network.password.encode())
            cfg = f"{{'ssid': {network.ssid!r}, 'password': _w.decode(), 'host': {network.host!r}, 'port': {network.port!r}}}"
            _run(transport, f"_p[netcfg.PATH] = netcfg.encode({cfg})\ndel _w", "network config")
            written.append(
                f"network (ssid {network.ssid!r}, endpoint {network.host}:{network.port})"
            )
        if identity is not None or network is not None:
            _run(transport, "certs.commit(_p)", "committing")
        if serial_label is not None:
            _run(transport, f"store.write_bytes('serial', {serial_label.encode()!r})", "serial")
            written.append(f"serial {serial_label!r}")
        _run(transport, "del _p", "cleaning up")
    for item in written:
        log(f"provisioned {item}")
    return written
