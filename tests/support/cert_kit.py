"""Throwaway certificates and keys for tests, issued by the cloud's own CA code (rig/cloud/certificates/ca.py).

Tests that need a key pair, a CA or a TLS server certificate take them from here, so they all see
the certificates the reference cloud issues (EC P-256 by default, RSA 2048 on request) and no test
builds X.509 by hand. Importable from every test directory: pyproject.toml puts tests/support on
pytest's `pythonpath` (and pyrightconfig.json on `extraPaths`).

    pair = issue("button-1")
    pair.cert_bytes(DER), pair.key_bytes(PEM, TRADITIONAL)
"""

from __future__ import annotations

import datetime as dt
import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from rig.cloud.certificates.ca import CertificateAuthority, IssuedCertificate, PrivateKey

PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER
PKCS8 = serialization.PrivateFormat.PKCS8
TRADITIONAL = serialization.PrivateFormat.TraditionalOpenSSL


@dataclass(frozen=True)
class KeyPair:
    """A private key and the certificate for it, to be written in whichever encoding a test
    feeds its code under test."""

    key: PrivateKey
    certificate: x509.Certificate

    def cert_bytes(self, encoding: serialization.Encoding = PEM) -> bytes:
        return self.certificate.public_bytes(encoding)

    def key_bytes(
        self,
        encoding: serialization.Encoding = PEM,
        private_format: serialization.PrivateFormat = PKCS8,
    ) -> bytes:
        return self.key.private_bytes(encoding, private_format, serialization.NoEncryption())

    def __repr__(self) -> str:  # an assertion message must not show the key
        return f"KeyPair(subject={self.certificate.subject.rfc4514_string()!r})"


def _key_pair(issued: IssuedCertificate) -> KeyPair:
    assert issued.private_key_der is not None, "the CA made this key, so it hands it back"
    key = serialization.load_der_private_key(issued.private_key_der, password=None)
    assert isinstance(key, PrivateKey)
    return KeyPair(key, x509.load_der_x509_certificate(issued.certificate_der))


class ThrowawayCa:
    """A fresh CA (its own key, so certificates from two of them do not verify each other)."""

    def __init__(self) -> None:
        # CertificateAuthority keeps its key in memory once made; its directory is only a store,
        # so a temporary one, gone at once, leaves nothing behind.
        with tempfile.TemporaryDirectory(prefix="test-ca-") as store:
            self._ca = CertificateAuthority(Path(store))
        self.certificate = self._ca.certificate

    def cert_bytes(self, encoding: serialization.Encoding = PEM) -> bytes:
        return self.certificate.public_bytes(encoding)

    def client(self, common_name: str = "button", key_type: str = "EC") -> KeyPair:
        """A client certificate (key "EC" P-256 or "RSA" 2048) with a new key."""
        return _key_pair(self._ca.issue_client_certificate(common_name, key_type))

    def server(self, *hostnames: str) -> KeyPair:
        """A TLS server certificate for `hostnames` (DNS names or IP addresses; the first is
        the subject's common name)."""
        return _key_pair(self._ca.issue_server_certificate(hostnames))

    def short_lived_server(self, days: int, *hostnames: str) -> KeyPair:
        """Like server(), valid for `days` from now only, as a public TLS server's certificate
        (the cloud's own last until 2099): a clock decades off finds it expired."""
        pair = self.server(*hostnames)
        cert = pair.certificate
        start = cert.not_valid_before_utc
        builder = (
            x509.CertificateBuilder()
            .subject_name(cert.subject)
            .issuer_name(cert.issuer)
            .public_key(cert.public_key())
            .serial_number(cert.serial_number)
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=days))
        )
        for extension in cert.extensions:
            builder = builder.add_extension(extension.value, extension.critical)
        signed = builder.sign(self._ca._key, hashes.SHA256())
        return KeyPair(pair.key, signed)


@functools.cache
def shared_ca() -> ThrowawayCa:
    """One CA per test process, for tests that only need some valid key pair."""
    return ThrowawayCa()


def issue(common_name: str = "button", key_type: str = "EC") -> KeyPair:
    """A new key pair whose certificate `shared_ca()` signed."""
    return shared_ca().client(common_name, key_type)
