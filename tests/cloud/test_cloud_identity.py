"""rig.strategies.provisioning.identity_from_cloud: the reference cloud's credentials for a
thing, as the plain DER data host.provision writes to a board."""

from __future__ import annotations

from pathlib import Path

from cert_kit import DER
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from rig.strategies.provisioning import identity_from_cloud


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
