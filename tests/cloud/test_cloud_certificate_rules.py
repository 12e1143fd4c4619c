"""Certificates as the broker sees them: common names it can use, subject attributes in policies
(TV-09), several certificates for one client id, and group policies inherited from a parent
group; against the real broker and cloud."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from broker_watch import dropped
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from rig.cloud.certificates.store import CLOUD_USER, PROBE_USER
from rig.cloud.core import arn
from rig.cloud.core.errors import InvalidRequestException
from rig.cloud.lifecycle.store import PresenceStore
from rig.cloud.runtime import CloudRuntime
from rig.mqtt.device_client import DeviceClient
from rig.mqtt.endpoint import ClientIdentity
from rig.mqtt.handshake import can_connect

WAIT_S = 20.0


def _csr(subject: dict[x509.ObjectIdentifier, str]) -> tuple[str, bytes]:
    """(CSR PEM, private key PEM) for a fresh P-256 key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(oid, value) for oid, value in subject.items()])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def _identity(directory: Path, name: str, cert_pem: str, key_pem: bytes) -> ClientIdentity:
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    cert.write_text(cert_pem)
    key.write_bytes(key_pem)
    key.chmod(0o600)
    return ClientIdentity(cert, key)


def _policy(cloud: CloudRuntime, name: str, statements: list[dict]) -> str:
    cloud.cloud.create_policy(name, json.dumps({"Version": "2012-10-17", "Statement": statements}))
    return name


def _client(cloud: CloudRuntime, identity: ClientIdentity, client_id: str) -> DeviceClient:
    assert cloud.endpoint is not None
    return DeviceClient(cloud.endpoint, identity.cert_file, identity.key_file, client_id)


@pytest.mark.parametrize("common_name", [CLOUD_USER, PROBE_USER, "dev.1", "two words", "ü"])
def test_common_names_the_broker_cannot_use_are_refused_at_creation(cloud, common_name) -> None:
    with pytest.raises(InvalidRequestException, match="common name"):
        cloud.cloud.create_keys_and_certificate(set_as_active=True, common_name=common_name)
    csr, _ = _csr({NameOID.COMMON_NAME: common_name})
    with pytest.raises(InvalidRequestException, match="common name"):
        cloud.cloud.create_certificate_from_csr(csr, set_as_active=True)


def test_a_csr_keeps_its_subject_and_gets_a_unique_cn_when_it_has_none(cloud) -> None:
    csr, _ = _csr({NameOID.ORGANIZATION_NAME: "Example Corp", NameOID.COUNTRY_NAME: "DE"})
    created = cloud.cloud.create_certificate_from_csr(csr, set_as_active=True)
    subject = x509.load_pem_x509_certificate(created["certificatePem"].encode()).subject
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Example Corp"
    assert subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "DE"
    common_name = str(subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
    assert common_name.startswith("iotcert-")


def test_a_reserved_cn_from_an_older_database_is_refused_and_the_rest_still_applies(
    cloud, tmp_path
) -> None:
    """A certificate with the cloud's own CN (recorded before names were checked) must neither
    connect as the cloud nor stop later auth changes from reaching the broker."""
    issued = cloud.cloud.ca.issue_client_certificate(CLOUD_USER)
    cloud.cloud.certificates._record(issued, CLOUD_USER, active=True)
    assert issued.private_key_pem is not None
    impostor = _identity(
        tmp_path, "impostor", issued.certificate_pem, issued.private_key_pem.encode()
    )
    cloud.sync_auth()
    assert not can_connect(cloud.endpoint, impostor), "a device certificate connected as the cloud"

    provisioned = cloud.cloud.provision_button("certrule-after-impostor")
    later = _identity(
        tmp_path,
        "later",
        provisioned["certificatePem"],
        provisioned["privateKeyPem"].encode(),
    )
    assert can_connect(cloud.endpoint, later), "an auth change after the impostor did not apply"
    cloud.cloud.update_certificate(provisioned["certificateId"], "REVOKED")
    assert not can_connect(cloud.endpoint, later), "a revocation after the impostor did not apply"


def test_subject_attributes_decide_at_the_broker_tv09(cloud, tmp_path) -> None:
    policy = _policy(
        cloud,
        "certrule-tv09",
        [
            {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": "*",
                "Condition": {
                    "ForAllValues:StringEquals": {
                        "iot:Certificate.Subject.Organization.List": [
                            "Example Corp",
                            "AnyCompany",
                        ]
                    }
                },
            },
        ],
    )
    clients: dict[str, DeviceClient] = {}
    for client_id, organization in (
        ("certrule-tv09-a", "Example Corp"),
        ("certrule-tv09-b", "OtherCorp"),
    ):
        csr, key = _csr({NameOID.COMMON_NAME: client_id, NameOID.ORGANIZATION_NAME: organization})
        created = cloud.cloud.create_certificate_from_csr(csr, set_as_active=True)
        cloud.cloud.attach_policy(policy, created["certificateArn"])
        identity = _identity(tmp_path, client_id, created["certificatePem"], key)
        clients[client_id] = _client(cloud, identity, client_id).connect()  # CONNECT allowed
    try:
        allowed, denied = clients["certrule-tv09-a"], clients["certrule-tv09-b"]
        allowed_gone, denied_gone = dropped(allowed), dropped(denied)
        allowed.publish("certrule/tv09/a", b"{}")
        denied.client.publish("certrule/tv09/b", b"{}", qos=1)  # refused: never acknowledged
        assert denied_gone.wait(WAIT_S), "O=OtherCorp published where only Example Corp may"
        assert not allowed_gone.is_set() and allowed.client.is_connected()
    finally:
        for client in clients.values():
            client.close()


def test_a_policy_on_a_parent_group_applies_to_things_in_its_child_groups(cloud, tmp_path) -> None:
    thing = "certrule-grandchild-1"
    cloud.cloud.create_thing(thing)
    created = cloud.cloud.create_keys_and_certificate(set_as_active=True, common_name=thing)
    cloud.cloud.attach_thing_principal(thing, created["certificateArn"])
    identity = _identity(
        tmp_path, thing, created["certificatePem"], created["keyPair"]["PrivateKey"].encode()
    )
    cloud.cloud.create_thing_group("certrule-site")
    cloud.cloud.create_thing_group("certrule-floor", parent_group_name="certrule-site")
    connect = _policy(
        cloud,
        "certrule-site-connect",
        [{"Effect": "Allow", "Action": "iot:Connect", "Resource": arn.client_arn(thing)}],
    )
    cloud.cloud.attach_policy(connect, arn.thing_group_arn("certrule-site"))
    cloud.cloud.add_thing_to_thing_group(thing_group_name="certrule-floor", thing_name=thing)
    assert can_connect(cloud.endpoint, identity), "the parent group's policy did not apply"
    cloud.cloud.remove_thing_from_thing_group(thing_group_name="certrule-floor", thing_name=thing)
    assert not can_connect(cloud.endpoint, identity), "the policy outlived the membership"


def _wait_presence(cloud: CloudRuntime, client_id: str, connected: bool) -> None:
    deadline = time.monotonic() + WAIT_S
    while PresenceStore(cloud.cloud.store).connected(client_id) is not connected:
        assert time.monotonic() < deadline, f"{client_id} never seen connected={connected}"
        time.sleep(0.02)


def test_an_inactive_certificates_connection_ends_and_the_new_one_has_its_own_rights(
    cloud, tmp_path
) -> None:
    """Two certificates, one client id: the old one may publish only certrule/ok, the new one
    anything. Made INACTIVE, the old one's open connection ends (UpdateCertificate, AWS IoT API
    reference); the new certificate then connects with all of its own rights (decided per
    connection, by certificate and client id)."""
    thing = "certrule-rotate-1"
    cloud.cloud.create_thing(thing)
    narrow = _policy(
        cloud,
        "certrule-rotate-narrow",
        [
            {"Effect": "Allow", "Action": "iot:Connect", "Resource": arn.client_arn(thing)},
            {"Effect": "Allow", "Action": "iot:Publish", "Resource": arn.topic_arn("certrule/ok")},
        ],
    )
    wide = _policy(
        cloud, "certrule-rotate-wide", [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]
    )
    identities = {}
    for which, policy in (("old", narrow), ("new", wide)):
        created = cloud.cloud.create_keys_and_certificate(set_as_active=True)
        cloud.cloud.attach_policy(policy, created["certificateArn"])
        cloud.cloud.attach_thing_principal(thing, created["certificateArn"])
        key = created["keyPair"]["PrivateKey"].encode()
        identities[which] = (
            created["certificateId"],
            _identity(tmp_path, which, created["certificatePem"], key),
        )
    old = _client(cloud, identities["old"][1], thing).connect()
    try:
        old_gone = dropped(old)
        old.publish("certrule/ok", b"{}")
        assert not old_gone.is_set(), "the narrow certificate lost what it may do"
        cloud.cloud.update_certificate(identities["old"][0], "INACTIVE")
        assert old_gone.wait(WAIT_S), "the INACTIVE certificate's connection stayed open"
    finally:
        old.close()
    _wait_presence(cloud, thing, connected=False)
    new = _client(cloud, identities["new"][1], thing).connect()
    try:
        new_gone = dropped(new)
        new.subscribe("certrule/#")
        new.publish("certrule/anything", b"{}")
        assert new.expect("certrule/anything", timeout=WAIT_S) == {}
        assert not new_gone.is_set(), "the new certificate did not get its own rights"
    finally:
        new.close()
