"""host/provision.py on the host side: PEM/DER conversion, key-certificate check, no secret in
messages or reprs."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from host.provision import (
    Identity,
    NetworkConfig,
    ProvisionError,
    identity_from_bytes,
    identity_from_cloud,
    identity_from_files,
)


def issue(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, cert


def pem_key(key: ec.EllipticCurvePrivateKey, fmt: serialization.PrivateFormat) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


def der_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


NAMES = ("cert.pem", "key.pem", "ca.pem")
DER = serialization.Encoding.DER
PEM = serialization.Encoding.PEM


def test_pem_files_become_der(tmp_path: Path) -> None:
    key, cert = issue("button-1")
    _, ca = issue("ca")
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(PEM))
    (tmp_path / "k.pem").write_bytes(pem_key(key, serialization.PrivateFormat.TraditionalOpenSSL))
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(PEM))
    identity = identity_from_files(tmp_path / "c.pem", tmp_path / "k.pem", tmp_path / "ca.pem")
    assert identity.certificate_der == cert.public_bytes(DER)
    assert identity.private_key_der == der_key(key)  # PKCS#8 DER, whatever came in
    assert identity.ca_der == ca.public_bytes(DER)


def test_der_input_is_accepted_as_is() -> None:
    key, cert = issue("button-2")
    identity = identity_from_bytes(
        cert.public_bytes(DER), der_key(key), cert.public_bytes(DER), NAMES
    )
    assert identity.private_key_der == der_key(key)


def test_a_key_of_another_certificate_is_refused_without_showing_it() -> None:
    key, _ = issue("a")
    _, other = issue("b")
    key_pem = pem_key(key, serialization.PrivateFormat.PKCS8)
    with pytest.raises(ProvisionError) as caught:
        identity_from_bytes(other.public_bytes(PEM), key_pem, other.public_bytes(PEM), NAMES)
    assert str(caught.value) == "the private key in key.pem does not belong to cert.pem"


def test_garbage_is_named_not_quoted() -> None:
    _, cert = issue("c")
    secret = b"-----BEGIN PRIVATE KEY-----\nTOPSECRETTOPSECRET\n-----END PRIVATE KEY-----\n"
    with pytest.raises(ProvisionError) as caught:
        identity_from_bytes(cert.public_bytes(PEM), secret, cert.public_bytes(PEM), NAMES)
    assert "TOPSECRET" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    with pytest.raises(ProvisionError, match=r"ca\.pem is not an X\.509 certificate"):
        identity_from_bytes(cert.public_bytes(PEM), der_key(issue("d")[0]), b"junk", NAMES)


def test_reprs_hide_the_key_and_the_password() -> None:
    identity = Identity(b"CERT", b"KEYBYTES", b"CA")
    network = NetworkConfig("lab", "hunter2hunter2", "broker.local")
    assert "KEYBYTES" not in repr(identity)
    assert "hunter2" not in repr(network) and "lab" in repr(network)


def test_an_identity_from_the_reference_cloud_is_der_and_matches(tmp_path: Path) -> None:
    identity, endpoint = identity_from_cloud(tmp_path, "button-from-cloud")
    cert = x509.load_der_x509_certificate(identity.certificate_der)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "button-from-cloud"
    key = serialization.load_der_private_key(identity.private_key_der, password=None)
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    assert key.public_key().public_bytes(DER, public) == cert.public_key().public_bytes(
        DER, public
    )
    ca = x509.load_der_x509_certificate(identity.ca_der)
    assert cert.issuer == ca.subject
    assert endpoint is None  # no cloud running for this home
