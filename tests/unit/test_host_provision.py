"""host/provision.py on the host side: PEM/DER conversion, key-certificate check, no secret in
messages or reprs."""

from __future__ import annotations

from pathlib import Path

import pytest
from cert_kit import DER, PEM, PKCS8, TRADITIONAL, issue, shared_ca

from host.provision import (
    Identity,
    NetworkConfig,
    ProvisionError,
    identity_from_bytes,
    identity_from_files,
)

NAMES = ("cert.pem", "key.pem", "ca.pem")


def test_pem_files_become_der(tmp_path: Path) -> None:
    pair, ca = issue("button-1"), shared_ca()
    (tmp_path / "c.pem").write_bytes(pair.cert_bytes(PEM))
    (tmp_path / "k.pem").write_bytes(pair.key_bytes(PEM, TRADITIONAL))
    (tmp_path / "ca.pem").write_bytes(ca.cert_bytes(PEM))
    identity = identity_from_files(tmp_path / "c.pem", tmp_path / "k.pem", tmp_path / "ca.pem")
    assert identity.certificate_der == pair.cert_bytes(DER)
    assert identity.private_key_der == pair.key_bytes(DER, PKCS8)  # whatever came in
    assert identity.ca_der == ca.cert_bytes(DER)


def test_der_input_is_accepted_as_is() -> None:
    pair = issue("button-2")
    key_der = pair.key_bytes(DER, PKCS8)
    identity = identity_from_bytes(pair.cert_bytes(DER), key_der, pair.cert_bytes(DER), NAMES)
    assert identity.private_key_der == key_der


def test_a_key_of_another_certificate_is_refused_without_showing_it() -> None:
    key_pem = issue("a").key_bytes(PEM, PKCS8)
    other = issue("b").cert_bytes(PEM)
    with pytest.raises(ProvisionError) as caught:
        identity_from_bytes(other, key_pem, other, NAMES)
    assert str(caught.value) == "the private key in key.pem does not belong to cert.pem"


def test_garbage_is_named_not_quoted() -> None:
    cert = issue("c").certificate
    secret = b"-----BEGIN PRIVATE KEY-----\nTOPSECRETTOPSECRET\n-----END PRIVATE KEY-----\n"
    with pytest.raises(ProvisionError) as caught:
        identity_from_bytes(cert.public_bytes(PEM), secret, cert.public_bytes(PEM), NAMES)
    assert "TOPSECRET" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    with pytest.raises(ProvisionError, match=r"ca\.pem is not an X\.509 certificate"):
        identity_from_bytes(cert.public_bytes(PEM), issue("d").key_bytes(DER), b"junk", NAMES)


def test_reprs_hide_the_key_and_the_password() -> None:
    identity = Identity(b"CERT", b"KEYBYTES", b"CA")
    network = NetworkConfig("lab", "hunter2hunter2", "broker.local")
    assert "KEYBYTES" not in repr(identity)
    assert "hunter2" not in repr(network) and "lab" in repr(network)
