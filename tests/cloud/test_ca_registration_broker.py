"""Your own CA at the real broker: devices present `deviceCert + rootCA` (the workshop's chain
file); the TLS handshake verifies them in OpenSSL against the registered CAs (a capath the cloud
keeps; a CA registered while the broker runs is trusted at once), then the plugin's CONNECT
decision applies the registry: JITP and JITR at a first connection (workshop §JITP, §JITR;
guide "Using Automatic/Just-in-Time Registration for Device Certificates", "Just-in-Time
Provisioning", "Deactivate the CA Certificate")."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from own_ca import Device, OwnCa
from workshop_jitp import jitp_template

from rig.broker import MosquittoBroker
from rig.cloud.core import arn
from rig.cloud.runtime import CloudRuntime, temporary_cloud
from rig.mqtt.device_client import DeviceClient
from rig.mqtt.endpoint import ClientIdentity
from rig.mqtt.handshake import connection_problem
from rig.pytest_plugin.cli_runner import buttonrig_subprocess

WAIT_S = 20.0
ALLOW_ALL = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}],
    }
)
IOT_POLICY = "WorkshopPolicy"  # the workshop's $IOT_POLICY
JITP_TEMPLATE = jitp_template(IOT_POLICY)  # the workshop's JITP template
ROLE = "arn:aws:iam::123456789012:role/JITPRole"


def _register_ca(cloud: CloudRuntime, ca: OwnCa, **options: Any) -> str:
    code = cloud.cloud.get_registration_code()["registrationCode"]
    return cloud.cloud.register_ca_certificate(
        ca.pem,
        ca.verification_certificate(code),
        **options,
    )["certificateId"]


def _shared_resources(cloud: CloudRuntime) -> None:
    names = [p["policyName"] for p in cloud.cloud.list_policies()["policies"]]
    if IOT_POLICY not in names:
        cloud.cloud.create_policy(IOT_POLICY, ALLOW_ALL)
    if "bulk-group" not in [
        g["groupName"] for g in cloud.cloud.list_thing_groups()["thingGroups"]
    ]:
        cloud.cloud.create_thing_group("bulk-group")


def _problem(cloud: CloudRuntime, identity: ClientIdentity, client_id: str) -> str | None:
    assert cloud.endpoint is not None
    return connection_problem(cloud.endpoint, identity, timeout=WAIT_S, client_id=client_id)


def _certificate_id(device: Device) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from rig.cloud.certificates.ca import certificate_id_of

    certificate = x509.load_pem_x509_certificate(device.certificate_pem.encode())
    return certificate_id_of(certificate.public_bytes(serialization.Encoding.DER))


def _events_watcher(cloud: CloudRuntime, directory: Path) -> DeviceClient:
    """A client allowed to subscribe to and receive `$aws/events/...`."""
    created = cloud.cloud.create_keys_and_certificate(True, common_name="ca-events-watcher")
    _shared_resources(cloud)
    cloud.cloud.attach_policy(IOT_POLICY, created["certificateArn"])
    cert, key = directory / "watcher.crt", directory / "watcher.key"
    cert.write_text(created["certificatePem"])
    key.write_text(created["keyPair"]["PrivateKey"])
    assert cloud.endpoint is not None
    watcher = DeviceClient(cloud.endpoint, cert, key, "ca-events-watcher").connect()
    assert watcher.subscribe("$aws/events/certificates/registered/#") == [1]
    return watcher


def test_a_ca_registered_while_the_broker_runs_is_trusted_at_once(
    cloud: CloudRuntime, tmp_path: Path
) -> None:
    """No restart: OpenSSL's hash-directory lookup finds the new CA at the next handshake."""
    ca = OwnCa("Registered Later CA")
    device = ca.device("own-ca-device")
    identity = device.identity(tmp_path, "device")
    before = _problem(cloud, identity, "own-ca-device")
    assert before is not None and "SSL" in before  # refused in the TLS handshake
    pid = cloud.broker.pid if cloud.broker else None
    ca_id = _register_ca(cloud, ca, set_as_active=True)
    registered = cloud.cloud.register_certificate(device.certificate_pem, ca.pem, True)
    _shared_resources(cloud)
    cloud.cloud.attach_policy(IOT_POLICY, registered["certificateArn"])
    assert _problem(cloud, identity, "own-ca-device") is None
    assert cloud.broker is not None and cloud.broker.pid == pid  # the same broker process
    assert cloud.cloud.list_certificates_by_ca(ca_id)["certificates"][0]["status"] == "ACTIVE"
    # paho with the chain file, publishing to a subscriber
    assert cloud.endpoint is not None
    client = DeviceClient(cloud.endpoint, identity.cert_file, identity.key_file, "own-ca-device")
    client.connect()
    try:
        assert client.subscribe("own/ca/echo") == [1]
        client.publish("own/ca/echo", {"hello": "own CA"})
        assert client.expect("own/ca/echo") == {"hello": "own CA"}
    finally:
        client.close()


def test_a_ca_never_registered_is_refused_in_tls(cloud: CloudRuntime, tmp_path: Path) -> None:
    stranger = OwnCa("Stranger CA")
    device = stranger.device("stranger-device")
    # even registered without a CA and ACTIVE: the broker does not trust its issuer
    cloud.cloud.register_certificate_without_ca(device.certificate_pem, "ACTIVE")
    problem = _problem(cloud, device.identity(tmp_path, "stranger"), "stranger-device")
    assert problem is not None and "SSL" in problem


def test_inactive_ca_registers_nothing_but_its_certificates_keep_working(
    cloud: CloudRuntime, tmp_path: Path
) -> None:
    """Guide: "If the CA certificate is INACTIVE, AWS IoT does not allow the device certificate
    to be registered" / "Any registered device certificates that were signed by the compromised
    CA certificate will continue to work until you explicitly revoke them"."""
    _shared_resources(cloud)
    ca = OwnCa("Compromised CA")
    ca_id = _register_ca(cloud, ca, set_as_active=True, allow_auto_registration=True)
    known = ca.device("known-device")
    registered = cloud.cloud.register_certificate(known.certificate_pem, ca.pem, True)
    cloud.cloud.attach_policy(IOT_POLICY, registered["certificateArn"])
    known_identity = known.identity(tmp_path, "known")
    assert _problem(cloud, known_identity, "known-device") is None
    cloud.cloud.update_ca_certificate(ca_id, new_status="INACTIVE")
    unknown = ca.device("unknown-device")
    assert _problem(cloud, unknown.identity(tmp_path, "unknown"), "unknown-device") is not None
    listed = cloud.cloud.list_certificates_by_ca(ca_id)["certificates"]
    assert [c["certificateId"] for c in listed] == [registered["certificateId"]]
    assert _problem(cloud, known_identity, "known-device") is None
    # revoked: refused; and a deleted CA's certificates are refused
    cloud.cloud.delete_ca_certificate(ca_id)
    problem = _problem(cloud, known_identity, "known-device")
    assert problem is not None and "CONNACK code 5" in problem


def test_auto_registration_off_refuses_an_unknown_certificate(
    cloud: CloudRuntime, tmp_path: Path
) -> None:
    ca = OwnCa("No Auto Registration CA")
    ca_id = _register_ca(cloud, ca, set_as_active=True)
    device = ca.device("not-auto")
    problem = _problem(cloud, device.identity(tmp_path, "not-auto"), "not-auto")
    assert problem is not None and "CONNACK code 5" in problem  # past TLS, refused at CONNECT
    assert cloud.cloud.list_certificates_by_ca(ca_id)["certificates"] == []


def _mosquitto_pub(cloud: CloudRuntime, identity: ClientIdentity, client_id: str, topic: str):
    """The workshop's `mosquitto_pub --cafile … --cert …AndCACert.crt --key … -q 1 -d`."""
    assert cloud.endpoint is not None
    return subprocess.run(
        [
            "mosquitto_pub",
            "--cafile",
            str(cloud.endpoint.ca_file),
            "--cert",
            str(identity.cert_file),
            "--key",
            str(identity.key_file),
            "-h",
            cloud.endpoint.server_hostname,
            "-p",
            str(cloud.endpoint.port),
            "-q",
            "1",
            "-t",
            topic,
            "-i",
            client_id,
            "--tls-version",
            "tlsv1.2",
            "-m",
            '{"let-me": "in"}',
            "-d",
        ],
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        check=False,
    )


def test_jitp_first_connection_provisions_and_is_closed_the_second_works(
    cloud: CloudRuntime, tmp_path: Path
) -> None:
    """Workshop §JITP (TV-23), with mosquitto_pub as the device."""
    _shared_resources(cloud)
    ca = OwnCa("JITP CA")
    ca_id = _register_ca(cloud, ca)
    cloud.cloud.update_ca_certificate(ca_id, new_status="ACTIVE")
    cloud.cloud.update_ca_certificate(
        ca_id,
        new_auto_registration_status="ENABLE",
        registration_config={"templateBody": json.dumps(JITP_TEMPLATE), "roleArn": ROLE},
    )
    device = ca.device("my-jitp-device", country="DE")
    identity = device.identity(tmp_path, "deviceJITPCertAndCACert")
    first = _mosquitto_pub(cloud, identity, "deviceJITPCert", "ji/tp")
    assert first.returncode != 0, first.stdout + first.stderr  # "normal behaviour"
    certificate_id = _certificate_id(device)
    thing = cloud.cloud.describe_thing("my-jitp-device")
    assert thing["attributes"] == {"Country": "DE"}
    assert cloud.cloud.list_thing_groups_for_thing("my-jitp-device")["thingGroups"][0][
        "groupName"
    ] == ("bulk-group")
    described = cloud.cloud.describe_certificate(certificate_id)["certificateDescription"]
    assert described["status"] == "ACTIVE" and described["caCertificateId"] == ca_id
    principal = arn.cert_arn(certificate_id)
    assert cloud.cloud.list_thing_principals("my-jitp-device")["principals"] == [principal]
    attached = cloud.cloud.list_attached_policies(principal)["policies"]
    assert [p["policyName"] for p in attached] == [IOT_POLICY]
    # subscribe to ji/tp and publish again: the device is provisioned and ready to operate
    assert cloud.endpoint is not None
    listener = DeviceClient(
        cloud.endpoint, identity.cert_file, identity.key_file, "jitp-listener"
    ).connect()
    try:
        assert listener.subscribe("ji/tp") == [1]
        second = _mosquitto_pub(cloud, identity, "deviceJITPCert", "ji/tp")
        assert second.returncode == 0, second.stdout + second.stderr
        assert listener.expect("ji/tp") == {"let-me": "in"}
    finally:
        listener.close()


def test_jitp_template_that_cannot_apply_creates_nothing(
    cloud: CloudRuntime, tmp_path: Path
) -> None:
    """The device certificate has no Country: the template's Ref cannot resolve."""
    _shared_resources(cloud)
    ca = OwnCa("JITP Bad Template CA")
    config = {"templateBody": json.dumps(JITP_TEMPLATE), "roleArn": ROLE}
    ca_id = _register_ca(
        cloud,
        ca,
        set_as_active=True,
        allow_auto_registration=True,
        registration_config=config,
    )
    device = ca.device("no-country-device", country=None)
    identity = device.identity(tmp_path, "no-country")
    for _ in range(2):
        assert _problem(cloud, identity, "no-country-device") is not None
    assert cloud.cloud.list_certificates_by_ca(ca_id)["certificates"] == []
    assert "no-country-device" not in [t["thingName"] for t in cloud.cloud.list_things()["things"]]


def test_jitr_registers_pending_publishes_the_event_and_activation_lets_it_in(
    cloud: CloudRuntime, tmp_path: Path
) -> None:
    """Workshop §JITR (TV-24) with the rule's function done by the test (A.4's steps)."""
    watcher = _events_watcher(cloud, tmp_path)
    try:
        ca = OwnCa("JITR CA")
        ca_id = _register_ca(cloud, ca, set_as_active=True, allow_auto_registration=True)
        device = ca.device("deviceJITRCert")
        identity = device.identity(tmp_path, "deviceJITRCertAndCACert")
        before_ms = int(time.time() * 1000)
        problem = _problem(cloud, identity, "deviceJITRCert")
        assert problem is not None and "CONNACK code 5" in problem
        event = watcher.expect(f"$aws/events/certificates/registered/{ca_id}")
        certificate_id = _certificate_id(device)
        assert set(event) == {
            "certificateId",
            "caCertificateId",
            "timestamp",
            "certificateStatus",
            "awsAccountId",
            "certificateRegistrationTimestamp",
        }
        assert event["certificateId"] == certificate_id
        assert event["caCertificateId"] == ca_id
        assert event["certificateStatus"] == "PENDING_ACTIVATION"
        assert event["awsAccountId"] == arn.ACCOUNT
        assert isinstance(event["timestamp"], int) and event["timestamp"] >= before_ms
        registered_ms = int(event["certificateRegistrationTimestamp"])
        described = cloud.cloud.describe_certificate(certificate_id)["certificateDescription"]
        assert described["status"] == "PENDING_ACTIVATION"
        # "when a certificate in PENDING_ACTIVATION status connects": the event again
        assert _problem(cloud, identity, "deviceJITRCert") is not None
        again = watcher.expect(f"$aws/events/certificates/registered/{ca_id}")
        assert again["certificateId"] == certificate_id
        assert int(again["certificateRegistrationTimestamp"]) == registered_ms
        # the JITR function's work (workshop A.4)
        thing = f"jitr-{certificate_id}"
        cloud.cloud.create_thing(thing)
        cloud.cloud.create_policy(certificate_id, ALLOW_ALL)
        cloud.cloud.update_certificate(certificate_id, "ACTIVE")
        certificate_arn = cloud.cloud.describe_certificate(certificate_id)[
            "certificateDescription"
        ]["certificateArn"]
        cloud.cloud.attach_thing_principal(thing, certificate_arn)
        cloud.cloud.attach_policy(certificate_id, certificate_arn)
        assert _problem(cloud, identity, "deviceJITRCert") is None
    finally:
        watcher.close()


@pytest.mark.parametrize("chain", [True, False])
def test_a_registered_certificate_connects_with_or_without_the_chain(
    cloud: CloudRuntime, tmp_path: Path, chain: bool
) -> None:
    """The registered CA is in the broker's trust store, so the CA in the chain file is not
    needed once the certificate is registered (as AWS: only JITR needs the chain; A-3)."""
    _shared_resources(cloud)
    ca = OwnCa(f"Chain {chain} CA")
    _register_ca(cloud, ca, set_as_active=True)
    device = ca.device(f"chain-{chain}")
    registered = cloud.cloud.register_certificate(device.certificate_pem, ca.pem, True)
    cloud.cloud.attach_policy(IOT_POLICY, registered["certificateArn"])
    identity = device.identity(tmp_path, f"chain-{chain}", chain=chain)
    assert _problem(cloud, identity, f"chain-{chain}") is None


def test_registered_cas_are_trusted_again_after_a_broker_restart(tmp_path: Path) -> None:
    """Each broker run has a runtime directory of its own: its capath is filled before
    mosquitto starts (the trust hook), so a restart keeps the owner's devices connecting."""
    with temporary_cloud() as runtime:
        _shared_resources(runtime)
        ca = OwnCa("Restart CA")
        _register_ca(runtime, ca, set_as_active=True)
        device = ca.device("restart-device")
        registered = runtime.cloud.register_certificate(device.certificate_pem, ca.pem, True)
        runtime.cloud.attach_policy(IOT_POLICY, registered["certificateArn"])
        identity = device.identity(tmp_path, "restart")
        assert _problem(runtime, identity, "restart-device") is None
        assert isinstance(runtime.broker, MosquittoBroker)
        runtime.broker.restart()
        assert _problem(runtime, identity, "restart-device") is None


def test_a_ca_registered_from_another_process_is_trusted_when_the_command_returns(
    cloud: CloudRuntime, tmp_path: Path
) -> None:
    """The CLI (its own process) waits until the running cloud applied the change: the capath
    is written before the command returns, so a device's handshake passes right after it (and
    its unknown certificate is just-in-time registered; nothing else changed meanwhile)."""
    ca = OwnCa("Other Process CA")
    root, verification = tmp_path / "rootCA.pem", tmp_path / "verificationCert.pem"
    root.write_text(ca.pem)
    code = cloud.cloud.get_registration_code()["registrationCode"]
    verification.write_text(ca.verification_certificate(code))
    ca_id = json.loads(
        buttonrig_subprocess(
            cloud.home,
            "iot",
            "register-ca-certificate",
            "--ca-certificate",
            f"file://{root}",
            "--verification-cert",
            f"file://{verification}",
            "--set-as-active",
            "--allow-auto-registration",
        ).stdout
    )["certificateId"]
    device = ca.device("other-process-device")
    problem = _problem(cloud, device.identity(tmp_path, "other"), "other-process-device")
    assert problem is not None and "CONNACK code 5" in problem  # past TLS
    listed = cloud.cloud.list_certificates_by_ca(ca_id)["certificates"]
    assert [c["status"] for c in listed] == ["PENDING_ACTIVATION"]
