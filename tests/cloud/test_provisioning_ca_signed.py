"""One template engine for RegisterThing and JITP (docs/cloud-decisions.md A-7, PV-4): a device
certificate signed by a registered CA given to RegisterThing as `CertificatePem` (with or
without `CACertificatePem`, guide "Provisioning templates": "A device certificate created with
a CA certificate registered with AWS IoT"), and JITP's template applied by the same engine at a
first connection, with the guide's `AWS::IoT::Certificate::*` parameters (guide "Just-in-time
provisioning"). Without a broker: the admission is called as the broker plugin calls it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from own_ca import OwnCa

from rig.cloud.api import Cloud
from rig.cloud.ca_registration import pem
from rig.cloud.core import arn
from rig.cloud.core.errors import CloudError
from rig.cloud.runtime import CloudRuntime

ALLOW_ALL = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}],
    }
)
CA_SIGNED_TEMPLATE = json.dumps(
    {
        "Parameters": {
            "ThingName": {"Type": "String"},
            "CertificatePem": {"Type": "String"},
            "CACertificatePem": {"Type": "String", "Default": ""},
        },
        "Conditions": {"NoCa": {"Fn::Equals": [{"Ref": "CACertificatePem"}, ""]}},
        "Resources": {
            "thing": {
                "Type": "AWS::IoT::Thing",
                "Properties": {"ThingName": {"Ref": "ThingName"}},
            },
            "certificate": {
                "Type": "AWS::IoT::Certificate",
                "Properties": {
                    "CertificatePem": {"Ref": "CertificatePem"},
                    "CACertificatePem": {
                        "Fn::If": ["NoCa", {"Ref": "AWS::NoValue"}, {"Ref": "CACertificatePem"}]
                    },
                },
            },
            "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": ALLOW_ALL}},
        },
    }
)


def _register_ca(cloud: Cloud, ca: OwnCa, active: bool = True) -> str:
    code = cloud.get_registration_code()["registrationCode"]
    return cloud.register_ca_certificate(
        ca.pem, ca.verification_certificate(code), set_as_active=active
    )["certificateId"]


@pytest.fixture
def api(tmp_path: Path):
    cloud = Cloud(tmp_path / "home")
    yield cloud
    cloud.close()


@pytest.mark.parametrize("name_the_ca", [False, True])
def test_register_thing_with_a_certificate_a_registered_ca_signed(
    api: Cloud, name_the_ca: bool
) -> None:
    ca = OwnCa("Register Thing CA")
    ca_id = _register_ca(api, ca)
    device = ca.device("ca-signed-device")
    parameters = {"ThingName": "ca-signed-device", "CertificatePem": device.certificate_pem}
    if name_the_ca:
        parameters["CACertificatePem"] = ca.pem
    response = api.register_thing(CA_SIGNED_TEMPLATE, parameters)
    certificate_id = pem.id_of(pem.load(device.certificate_pem, "certificate"))
    certificate_arn = arn.cert_arn(certificate_id)
    assert response["resourceArns"]["certificate"] == certificate_arn
    assert response["resourceArns"]["thing"] == arn.thing_arn("ca-signed-device")
    assert pem.load(response["certificatePem"], "certificate") == pem.load(
        device.certificate_pem, "certificate"
    )
    described = api.describe_certificate(certificate_id)["certificateDescription"]
    assert described["status"] == "ACTIVE" and described["caCertificateId"] == ca_id
    assert api.list_thing_principals("ca-signed-device")["principals"] == [certificate_arn]
    assert len(api.list_attached_policies(certificate_arn)["policies"]) == 1
    listed = api.list_certificates_by_ca(ca_id)["certificates"]
    assert [c["certificateId"] for c in listed] == [certificate_id]


@pytest.mark.parametrize("problem", ["unregistered CA", "inactive CA", "other CA named"])
def test_register_thing_refuses_a_certificate_no_active_registered_ca_signed(
    api: Cloud, problem: str
) -> None:
    ca = OwnCa("Signing CA")
    parameters = {"ThingName": "refused-device"}
    if problem == "inactive CA":
        _register_ca(api, ca, active=False)
    elif problem == "other CA named":
        _register_ca(api, ca)
        other = OwnCa("Other CA")
        _register_ca(api, other)
        parameters["CACertificatePem"] = other.pem
    device = ca.device("refused-device")
    parameters["CertificatePem"] = device.certificate_pem
    with pytest.raises(CloudError):
        api.register_thing(CA_SIGNED_TEMPLATE, parameters)
    assert api.list_things()["things"] == []
    assert api.list_certificates()["certificates"] == []
    assert api.list_policies()["policies"] == []


def _jitp_cloud(tmp_path: Path, template: dict) -> tuple[CloudRuntime, OwnCa, str]:
    runtime = CloudRuntime(tmp_path / "home", objects=False)  # not started: no broker needed
    ca = OwnCa("JITP Engine CA")
    ca_id = _register_ca(runtime.cloud, ca)
    runtime.cloud.update_ca_certificate(
        ca_id,
        new_auto_registration_status="ENABLE",
        registration_config={
            "templateBody": json.dumps(template),
            "roleArn": "arn:aws:iam::123456789012:role/r",
        },
    )
    return runtime, ca, ca_id


def _present(runtime: CloudRuntime, certificate_pem: str) -> str | None:
    certificate = pem.load(certificate_pem, "certificate")
    return runtime.admission.presented(pem.id_of(certificate), pem.der_of(certificate))


def test_jitp_uses_the_provisioning_engine_with_every_built_in_parameter(tmp_path: Path) -> None:
    """Fn::Join and Fn::Sub (the provisioning engine's) over the guide's built-in parameters,
    a policy by document: the minimal JITP template application took none of these."""
    template = {
        "Parameters": {
            name: {"Type": "String"}
            for name in (
                "AWS::IoT::Certificate::Id",
                "AWS::IoT::Certificate::CommonName",
                "AWS::IoT::Certificate::Country",
                "AWS::IoT::Certificate::SerialNumber",
            )
        },
        "Resources": {
            "thing": {
                "Type": "AWS::IoT::Thing",
                "Properties": {
                    "ThingName": {
                        "Fn::Join": [
                            "-",
                            [
                                {"Ref": "AWS::IoT::Certificate::Country"},
                                {"Ref": "AWS::IoT::Certificate::CommonName"},
                            ],
                        ]
                    },
                    "AttributePayload": {
                        "serial": {"Fn::Sub": "sn-${AWS::IoT::Certificate::SerialNumber}"}
                    },
                },
            },
            "certificate": {
                "Type": "AWS::IoT::Certificate",
                "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}},
            },
            "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": ALLOW_ALL}},
        },
    }
    runtime, ca, ca_id = _jitp_cloud(tmp_path, template)
    try:
        device = ca.device("sensor-7", country="DE", serial_number="A123")
        assert _present(runtime, device.certificate_pem) is not None  # closed: "normal"
        cloud = runtime.cloud
        thing = cloud.describe_thing("DE-sensor-7")
        assert thing["attributes"] == {"serial": "sn-A123"}
        certificate_id = pem.id_of(pem.load(device.certificate_pem, "certificate"))
        described = cloud.describe_certificate(certificate_id)["certificateDescription"]
        # "Defaults to ACTIVE", and the registering CA is recorded
        assert described["status"] == "ACTIVE" and described["caCertificateId"] == ca_id
        principal = arn.cert_arn(certificate_id)
        assert cloud.list_thing_principals("DE-sensor-7")["principals"] == [principal]
        assert len(cloud.list_attached_policies(principal)["policies"]) == 1
        assert _present(runtime, device.certificate_pem) is None  # the usual decision now
    finally:
        runtime.cloud.close()


def test_jitp_with_a_template_the_engine_refuses_creates_nothing(tmp_path: Path) -> None:
    """An unknown intrinsic function: refused by the engine, the certificate not registered."""
    template = {
        "Parameters": {"AWS::IoT::Certificate::Id": {"Type": "String"}},
        "Resources": {
            "thing": {
                "Type": "AWS::IoT::Thing",
                "Properties": {"ThingName": {"Fn::GetAtt": ["x", "y"]}},
            },
            "certificate": {
                "Type": "AWS::IoT::Certificate",
                "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}},
            },
        },
    }
    runtime, ca, ca_id = _jitp_cloud(tmp_path, template)
    try:
        device = ca.device("refused-jitp")
        reason = _present(runtime, device.certificate_pem)
        assert reason is not None and "Fn::GetAtt" in reason
        assert runtime.cloud.list_certificates_by_ca(ca_id)["certificates"] == []
        assert runtime.cloud.list_things()["things"] == []
    finally:
        runtime.cloud.close()
