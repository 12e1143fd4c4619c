"""The AWS HTTP API, identity side: certificates and policies made with boto3 over HTTP, and a
device connecting over MQTT with a certificate made that way (issue #16)."""

from __future__ import annotations

import json

import pytest
from aws_http import client, dummy_env, error_of
from botocore.exceptions import ClientError

from rig.mqtt.device_client import DeviceClient


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    dummy_env(monkeypatch)


def _policy(thing: str) -> str:
    prefix = "arn:aws:iot:us-east-1:123456789012"
    shadow = f"$aws/things/{thing}/shadow/update"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "iot:Connect",
                    "Resource": f"{prefix}:client/{thing}",
                },
                {
                    "Effect": "Allow",
                    "Action": "iot:Publish",
                    "Resource": f"{prefix}:topic/{shadow}",
                },
                {
                    "Effect": "Allow",
                    "Action": "iot:Subscribe",
                    "Resource": f"{prefix}:topicfilter/{shadow}/accepted",
                },
                {
                    "Effect": "Allow",
                    "Action": "iot:Receive",
                    "Resource": f"{prefix}:topic/{shadow}/accepted",
                },
            ],
        }
    )


def test_certificate_made_over_http_connects_a_device(cloud, tmp_path) -> None:
    iot = client(cloud, "iot")
    thing = "http-device-1"
    iot.create_thing(thingName=thing)
    made = iot.create_keys_and_certificate(setAsActive=True)
    assert made["certificatePem"].startswith("-----BEGIN CERTIFICATE-----")
    assert made["keyPair"]["PrivateKey"].startswith("-----BEGIN")  # AWS gives it once, here
    described = iot.describe_certificate(certificateId=made["certificateId"])
    assert described["certificateDescription"]["status"] == "ACTIVE"
    assert described["certificateDescription"]["creationDate"].year >= 2024  # a timestamp
    iot.create_policy(policyName="http-device-1-policy", policyDocument=_policy(thing))
    iot.attach_policy(policyName="http-device-1-policy", target=made["certificateArn"])
    iot.attach_thing_principal(thingName=thing, principal=made["certificateArn"])
    assert iot.list_thing_principals(thingName=thing)["principals"] == [made["certificateArn"]]
    attached = iot.list_attached_policies(target=made["certificateArn"])["policies"]
    assert [p["policyName"] for p in attached] == ["http-device-1-policy"]

    cert, key = tmp_path / "device.crt", tmp_path / "device.key"
    cert.write_text(made["certificatePem"])
    key.write_text(made["keyPair"]["PrivateKey"])
    key.chmod(0o600)
    assert cloud.endpoint is not None
    device = DeviceClient(cloud.endpoint, cert, key, thing).connect()
    try:
        device.subscribe(f"$aws/things/{thing}/shadow/update/accepted")
        device.publish(
            f"$aws/things/{thing}/shadow/update", {"state": {"reported": {"from": "http"}}}
        )
        accepted = device.expect(f"$aws/things/{thing}/shadow/update/accepted")
        assert accepted["state"] == {"reported": {"from": "http"}}
    finally:
        device.close()


def test_policy_errors(cloud) -> None:
    iot = client(cloud, "iot")
    with pytest.raises(ClientError) as malformed:
        iot.create_policy(policyName="http-bad-policy", policyDocument='{"Statement": 3}')
    code, status, message = error_of(malformed.value)
    assert (code, status) == ("MalformedPolicyException", 400)
    assert message
    assert isinstance(malformed.value, iot.exceptions.MalformedPolicyException)
    with pytest.raises(ClientError) as missing:
        iot.attach_policy(policyName="http-no-such-policy", target="http-nobody")
    assert error_of(missing.value)[:2] == ("ResourceNotFoundException", 404)
    iot.create_policy(policyName="http-dup-policy", policyDocument=_policy("x"))
    with pytest.raises(ClientError) as twice:
        iot.create_policy(policyName="http-dup-policy", policyDocument=_policy("x"))
    assert error_of(twice.value)[:2] == ("ResourceAlreadyExistsException", 409)


def test_certificate_status_and_deprecated_principal_policy(cloud) -> None:
    iot = client(cloud, "iot")
    made = iot.create_keys_and_certificate(setAsActive=False)
    certificate_id = made["certificateId"]
    assert (
        iot.describe_certificate(certificateId=certificate_id)["certificateDescription"]["status"]
        == "INACTIVE"
    )
    iot.update_certificate(certificateId=certificate_id, newStatus="ACTIVE")  # a query member
    assert (
        cloud.cloud.describe_certificate(certificate_id)["certificateDescription"]["status"]
        == "ACTIVE"
    )
    iot.create_policy(policyName="http-principal-policy", policyDocument=_policy("y"))
    # x-amzn-iot-principal: a member carried in a header
    iot.attach_principal_policy(
        policyName="http-principal-policy", principal=made["certificateArn"]
    )
    attached = cloud.cloud.list_attached_policies(made["certificateArn"])["policies"]
    assert [p["policyName"] for p in attached] == ["http-principal-policy"]
