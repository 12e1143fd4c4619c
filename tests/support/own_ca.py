"""A fleet owner's own CA for tests, made as the workshop makes it with openssl (here through
`cryptography`): `openssl req -x509` (a v3 CA certificate), a verification certificate whose CN
is the registration code, device certificates signed by the CA, and the
`deviceCert.pem + rootCA.pem` chain file the workshop's devices present."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from rig.mqtt.endpoint import ClientIdentity


def _name(
    common_name: str, country: str | None = None, serial_number: str | None = None
) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if country is not None:
        attributes.insert(0, x509.NameAttribute(NameOID.COUNTRY_NAME, country))
    if (
        serial_number is not None
    ):  # the subject's serialNumber (AWS::IoT::Certificate::SerialNumber)
        attributes.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial_number))
    return x509.Name(attributes)


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


@dataclass
class Device:
    certificate_pem: str
    key_pem: bytes
    chain_pem: str  # deviceCert + rootCA, as `cat deviceCert.pem rootCA.pem`

    def identity(self, directory: Path, name: str, chain: bool = True) -> ClientIdentity:
        cert, key = directory / f"{name}.crt", directory / f"{name}.key"
        cert.write_text(self.chain_pem if chain else self.certificate_pem)
        key.write_bytes(self.key_pem)
        key.chmod(0o600)
        return ClientIdentity(cert, key)


class OwnCa:
    """A self-signed CA (EC P-256 for speed; the workshop's is RSA 2048: same path)."""

    def __init__(self, common_name: str = "IoT Workshop CA", ca: bool = True) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
        name = _name(common_name, "DE")
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1024))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
        )
        self.certificate = builder.sign(self.key, hashes.SHA256())
        self.pem = _pem(self.certificate)

    def sign(self, subject: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.Certificate:
        """As `openssl x509 -req -CA rootCA.pem -CAkey rootCA.key` (no extensions)."""
        now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=500))
            .sign(self.key, hashes.SHA256())
        )

    def verification_certificate(self, registration_code: str) -> str:
        key = ec.generate_private_key(ec.SECP256R1())
        return _pem(self.sign(_name(registration_code), key.public_key()))

    def device(
        self, common_name: str, country: str | None = "DE", serial_number: str | None = None
    ) -> Device:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(common_name, country, serial_number)
        certificate = _pem(self.sign(subject, key.public_key()))
        return Device(certificate, _key_pem(key), certificate + self.pem)
