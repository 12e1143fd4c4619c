"""provision_button: a thing, an active certificate and a policy, usable by a device at once."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import load_der_private_key

from rig.cloud.certificates.ca import certificate_id_of
from rig.mqtt.endpoint import ClientIdentity
from rig.mqtt.handshake import can_connect


def test_provisioned_button_connects_and_uses_its_shadow(device) -> None:
    button = device("prov-button-1")
    button.subscribe("$aws/things/prov-button-1/shadow/update/accepted")
    button.publish(
        "$aws/things/prov-button-1/shadow/update",
        {"state": {"reported": {"clicks": 3}}, "clientToken": "p-1"},
    )
    accepted = button.expect("$aws/things/prov-button-1/shadow/update/accepted")
    assert accepted["state"] == {"reported": {"clicks": 3}}
    assert accepted["clientToken"] == "p-1"
    assert accepted["version"] == 1


def test_provision_returns_matching_pem_and_der(cloud, tmp_path) -> None:
    result = cloud.cloud.provision_button("prov-button-2")
    cert = x509.load_der_x509_certificate(result["certificateDer"])
    assert certificate_id_of(result["certificateDer"]) == result["certificateId"]
    assert result["certificateArn"].endswith("cert/" + result["certificateId"])
    common_name = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert common_name == "prov-button-2"
    key = load_der_private_key(result["privateKeyDer"], None)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    assert key.public_key().public_bytes(der, spki) == cert.public_key().public_bytes(der, spki)
    assert result["endpoint"]["port"] == cloud.endpoint.port
    described = cloud.cloud.describe_certificate(result["certificateId"])
    assert described["certificateDescription"]["status"] == "ACTIVE"
    assert "PRIVATE KEY" not in str(described)
    principals = cloud.cloud.list_thing_principals("prov-button-2")["principals"]
    assert principals == [result["certificateArn"]]
    cert_file, key_file = tmp_path / "c.pem", tmp_path / "k.pem"
    cert_file.write_text(result["certificatePem"])
    key_file.write_text(result["privateKeyPem"])
    assert can_connect(cloud.endpoint, ClientIdentity(cert_file, key_file))
