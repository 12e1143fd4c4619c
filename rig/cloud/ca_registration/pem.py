"""Reading the certificates a user brings (their CA, its verification certificate, device
certificates it signed): parse, name by id, check who signed what. Pure: no database."""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from rig.cloud.certificates.ca import certificate_id_of
from rig.cloud.core.errors import CertificateValidationException


def load(pem: str, what: str) -> x509.Certificate:
    """The first certificate of `pem`; CertificateValidationException when there is none."""
    try:
        return x509.load_pem_x509_certificate(pem.strip().encode())
    except ValueError as exc:
        raise CertificateValidationException(f"The {what} is not a valid PEM certificate") from exc


def load_der(der: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(der)


def der_of(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def pem_of(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def id_of(certificate: x509.Certificate) -> str:
    """The AWS certificate id: SHA-256 of the DER (the same for a CA certificate)."""
    return certificate_id_of(der_of(certificate))


def common_name(certificate: x509.Certificate) -> str | None:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


def is_ca(certificate: x509.Certificate) -> bool:
    """Whether it may sign certificates as OpenSSL checks it (X509_check_ca): a version 3
    certificate needs basicConstraints CA:TRUE; `openssl req -x509` sets it (v3_ca)."""
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return certificate.version == x509.Version.v1  # a v1 self-signed root is accepted
    except ValueError:  # extensions that do not parse (duplicated, malformed)
        return False
    return constraints.value.ca


def signed_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether `issuer` signed `certificate` (names match and the signature verifies)."""
    if certificate.issuer != issuer.subject:
        return False
    try:
        certificate.verify_directly_issued_by(issuer)
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True
