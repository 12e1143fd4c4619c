"""Certificates and policies as the broker enforces them, changed while the cloud runs."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from rig.cloud.core import arn
from rig.cloud.core.errors import CertificateStateException
from rig.cloud.runtime import CloudRuntime
from rig.mqtt.device_client import DeviceClient
from rig.mqtt.endpoint import ClientIdentity
from rig.mqtt.handshake import can_connect


def _certificate(
    cloud: CloudRuntime, directory: Path, common_name: str
) -> tuple[dict, ClientIdentity]:
    created = cloud.cloud.create_keys_and_certificate(set_as_active=True, common_name=common_name)
    cert, key = directory / f"{common_name}.crt", directory / f"{common_name}.key"
    cert.write_text(created["certificatePem"])
    key.write_text(created["keyPair"]["PrivateKey"])
    return created, ClientIdentity(cert, key)


def _policy(cloud: CloudRuntime, name: str, statements: list[dict]) -> str:
    cloud.cloud.create_policy(name, json.dumps({"Version": "2012-10-17", "Statement": statements}))
    return name


def test_a_certificate_without_policy_cannot_connect(cloud, tmp_path) -> None:
    created, identity = _certificate(cloud, tmp_path, "auth-nopolicy")
    assert not can_connect(cloud.endpoint, identity)
    policy = _policy(
        cloud,
        "auth-connect-only",
        [
            {
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": arn.client_arn("auth-nopolicy"),
            }
        ],
    )
    cloud.cloud.attach_policy(policy, created["certificateArn"])
    assert can_connect(cloud.endpoint, identity)
    cloud.cloud.detach_policy(policy, created["certificateArn"])
    assert not can_connect(cloud.endpoint, identity)


def test_connect_is_checked_against_the_certificates_own_client_id(cloud, tmp_path) -> None:
    created, identity = _certificate(cloud, tmp_path, "auth-borrower")
    policy = _policy(
        cloud,
        "auth-connect-as-other",
        [{"Effect": "Allow", "Action": "iot:Connect", "Resource": arn.client_arn("someone-else")}],
    )
    cloud.cloud.attach_policy(policy, created["certificateArn"])
    assert not can_connect(cloud.endpoint, identity)


@pytest.mark.parametrize("status", ["INACTIVE", "REVOKED"])
def test_a_deactivated_certificate_refuses_new_connections_and_ends_open_ones(
    cloud, device, tmp_path, status: str
) -> None:
    """UpdateCertificate (AWS IoT API reference): "Within a few minutes of updating a certificate
    from the ACTIVE state to any other state, AWS IoT disconnects all devices that used that
    certificate to connect. Devices cannot use a certificate that is not in the ACTIVE state to
    reconnect." Ours: at once."""
    thing = f"auth-{status.lower()}-1"
    button: DeviceClient = device(thing)
    dropped = threading.Event()
    button.client.on_disconnect = lambda *_args: dropped.set()
    certificate_id = cloud.cloud.list_thing_principals(thing)["principals"][0].split("/")[-1]
    # the device fixture keeps the provisioned files in the test's tmp_path
    identity = ClientIdentity(tmp_path / f"{thing}.crt.pem", tmp_path / f"{thing}.key.pem")

    cloud.cloud.update_certificate(certificate_id, status)
    assert dropped.wait(10), f"the connection of a {status} certificate stayed open"
    assert not can_connect(cloud.endpoint, identity), f"a {status} certificate connected"

    if status == "REVOKED":
        with pytest.raises(CertificateStateException):
            cloud.cloud.update_certificate(certificate_id, "ACTIVE")
    else:
        cloud.cloud.update_certificate(certificate_id, "ACTIVE")
        assert can_connect(cloud.endpoint, identity)


def test_publish_is_limited_to_the_policys_topics(cloud, device, tmp_path) -> None:
    watcher_cert, watcher = _certificate(cloud, tmp_path, "auth-watcher")
    policy = _policy(
        cloud,
        "auth-watch-clicks",
        [
            {
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": arn.client_arn("auth-watcher"),
            },
            {
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": arn.topicfilter_arn("iotbutton/*"),
            },
            {"Effect": "Allow", "Action": "iot:Receive", "Resource": arn.topic_arn("iotbutton/*")},
        ],
    )
    cloud.cloud.attach_policy(policy, watcher_cert["certificateArn"])
    assert cloud.endpoint is not None
    client = DeviceClient(cloud.endpoint, watcher.cert_file, watcher.key_file, "auth-watcher")
    client.connect()
    try:
        client.subscribe("iotbutton/+")
        forger = device("auth-forger")
        dropped = threading.Event()
        forger.client.on_disconnect = lambda *_args: dropped.set()
        # a publish the policy refuses is never acknowledged: the broker closes the connection
        forged = forger.client.publish(
            "iotbutton/auth-someone-else", b'{"clickType": "FORGED"}', 1
        )
        assert dropped.wait(10), "a refused publish left the connection open"
        assert not forged.is_published(), "a refused publish was acknowledged"
        forger.close()
        button = device("auth-clicker")
        button.publish("iotbutton/auth-clicker", {"clickType": "SINGLE"})
        got = client.messages.get(timeout=20)
        assert got.topic == "iotbutton/auth-clicker", f"saw {got.topic} first"
    finally:
        client.close()


def test_group_policies_and_thing_attributes_apply_at_once(cloud, tmp_path) -> None:
    thing = "grp-thing-1"
    cloud.cloud.create_thing(thing, attribute_payload={"attributes": {"room": thing}})
    created, identity = _certificate(cloud, tmp_path, thing)
    cloud.cloud.attach_thing_principal(thing, created["certificateArn"])
    cloud.cloud.create_thing_group("grp-buttons-1")
    policy = _policy(
        cloud,
        "grp-connect-by-room",
        [
            {
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": arn.client_arn("${iot:Connection.Thing.Attributes[room]}"),
            }
        ],
    )
    cloud.cloud.attach_policy(policy, arn.thing_group_arn("grp-buttons-1"))
    assert not can_connect(cloud.endpoint, identity), "connected without the group's policy"
    cloud.cloud.add_thing_to_thing_group(thing_group_name="grp-buttons-1", thing_name=thing)
    assert can_connect(cloud.endpoint, identity), "the group's policy did not apply"
    cloud.cloud.update_thing(thing, attribute_payload={"attributes": {"room": "elsewhere"}})
    assert not can_connect(cloud.endpoint, identity), "an attribute change did not apply"
