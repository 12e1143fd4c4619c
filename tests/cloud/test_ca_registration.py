"""Your own CA in the cloud model (no broker): the registration code, register-ca-certificate
and its verification certificate, describe/list/update/delete, register-certificate under a CA
and without one, list-certificates-by-ca; bad input refused with nothing created (guide
"Registering Your CA Certificate", "Registering a Device Certificate", "Deactivate the CA
Certificate"; RegisterCACertificate, RegisterCertificate, UpdateCACertificate)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from own_ca import OwnCa

from rig.cloud.api import Cloud
from rig.cloud.core.errors import CloudError

TEMPLATE = json.dumps({"Resources": {"certificate": {"Type": "AWS::IoT::Certificate"}}})
ROLE = "arn:aws:iam::123456789012:role/JITPRole"


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    api = Cloud(tmp_path)
    yield api
    api.close()


def _register(cloud: Cloud, ca: OwnCa, **options: Any) -> str:
    code = cloud.get_registration_code()["registrationCode"]
    registered = cloud.register_ca_certificate(
        ca.pem, ca.verification_certificate(code), **options
    )
    return registered["certificateId"]


def _error(call: object, *args: object, **kwargs: object) -> CloudError:
    assert callable(call)
    with pytest.raises(CloudError) as raised:
        call(*args, **kwargs)
    return raised.value


def test_one_registration_code_per_account(cloud: Cloud) -> None:
    code = cloud.get_registration_code()["registrationCode"]
    assert len(code) == 64 and set(code) <= set("0123456789abcdef")
    assert cloud.get_registration_code()["registrationCode"] == code


def test_register_describe_list_ca(cloud: Cloud) -> None:
    ca = OwnCa()
    ca_id = _register(cloud, ca)
    described = cloud.describe_ca_certificate(ca_id)
    description = described["certificateDescription"]
    assert description["certificateArn"] == f"arn:aws:iot:us-east-1:123456789012:cacert/{ca_id}"
    assert description["status"] == "INACTIVE"  # without --set-as-active
    assert description["autoRegistrationStatus"] == "DISABLE"
    assert description["certificatePem"] == ca.pem
    assert "registrationConfig" not in described
    listed = cloud.list_ca_certificates()["certificates"]
    assert [(c["certificateId"], c["status"]) for c in listed] == [(ca_id, "INACTIVE")]


def test_register_active_with_auto_registration_and_template(cloud: Cloud) -> None:
    config = {"templateBody": TEMPLATE, "roleArn": ROLE}
    ca_id = _register(
        cloud,
        OwnCa(),
        set_as_active=True,
        allow_auto_registration=True,
        registration_config=config,
    )
    described = cloud.describe_ca_certificate(ca_id)
    assert described["certificateDescription"]["status"] == "ACTIVE"
    assert described["certificateDescription"]["autoRegistrationStatus"] == "ENABLE"
    assert described["registrationConfig"] == config


def test_verification_certificate_with_the_wrong_cn_creates_nothing(cloud: Cloud) -> None:
    ca = OwnCa()
    cloud.get_registration_code()
    error = _error(
        cloud.register_ca_certificate, ca.pem, ca.verification_certificate("not-the-code")
    )
    assert error.code == "RegistrationCodeValidationException"
    assert error.message == "The registration code is invalid."
    assert cloud.list_ca_certificates()["certificates"] == []


def test_verification_certificate_signed_by_another_ca_is_refused(cloud: Cloud) -> None:
    code = cloud.get_registration_code()["registrationCode"]
    error = _error(
        cloud.register_ca_certificate, OwnCa().pem, OwnCa().verification_certificate(code)
    )
    assert error.code == "CertificateValidationException"
    assert cloud.list_ca_certificates()["certificates"] == []


@pytest.mark.parametrize(
    ("ca_pem", "code"),
    [
        ("not a certificate", "CertificateValidationException"),
        (OwnCa(ca=False).pem, "CertificateValidationException"),  # CA:FALSE
    ],
)
def test_bad_ca_certificates(cloud: Cloud, ca_pem: str, code: str) -> None:
    registration = cloud.get_registration_code()["registrationCode"]
    error = _error(
        cloud.register_ca_certificate, ca_pem, OwnCa().verification_certificate(registration)
    )
    assert error.code == code
    assert cloud.list_ca_certificates()["certificates"] == []


def test_a_ca_registers_once(cloud: Cloud) -> None:
    ca = OwnCa()
    _register(cloud, ca)
    code = cloud.get_registration_code()["registrationCode"]
    error = _error(cloud.register_ca_certificate, ca.pem, ca.verification_certificate(code))
    assert error.code == "ResourceAlreadyExistsException"


def test_bad_registration_config_creates_nothing(cloud: Cloud) -> None:
    ca = OwnCa()
    code = cloud.get_registration_code()["registrationCode"]
    for config in ({"templateBody": "{not json"}, {"templateBody": TEMPLATE, "roleArn": "short"}):
        error = _error(
            cloud.register_ca_certificate,
            ca.pem,
            ca.verification_certificate(code),
            registration_config=config,
        )
        assert error.code == "InvalidRequestException"
    assert cloud.list_ca_certificates()["certificates"] == []


def test_update_ca_certificate_as_the_workshop(cloud: Cloud) -> None:
    ca_id = _register(cloud, OwnCa())
    cloud.update_ca_certificate(ca_id, new_status="ACTIVE")
    # JITP: auto-registration and a template
    cloud.update_ca_certificate(
        ca_id,
        new_auto_registration_status="ENABLE",
        registration_config={"templateBody": TEMPLATE, "roleArn": ROLE},
    )
    described = cloud.describe_ca_certificate(ca_id)
    assert described["certificateDescription"]["status"] == "ACTIVE"
    assert described["registrationConfig"]["templateBody"] == TEMPLATE
    # JITR: "--remove-auto-registration --new-auto-registration-status DISABLE" removes the
    # template and role, then ENABLE again without one
    cloud.update_ca_certificate(
        ca_id, new_auto_registration_status="DISABLE", remove_auto_registration=True
    )
    described = cloud.describe_ca_certificate(ca_id)
    assert "registrationConfig" not in described
    assert described["certificateDescription"]["autoRegistrationStatus"] == "DISABLE"
    cloud.update_ca_certificate(ca_id, new_auto_registration_status="ENABLE")
    assert (
        cloud.describe_ca_certificate(ca_id)["certificateDescription"]["autoRegistrationStatus"]
        == "ENABLE"
    )


def test_update_ca_certificate_bad_input_changes_nothing(cloud: Cloud) -> None:
    ca_id = _register(cloud, OwnCa())
    for kwargs in (
        {"new_status": "REVOKED"},
        {"new_auto_registration_status": "ON"},
        {"registration_config": {"templateBody": "[]"}},
        {"remove_auto_registration": True, "registration_config": {"templateBody": TEMPLATE}},
    ):
        assert _error(cloud.update_ca_certificate, ca_id, **kwargs).code == (
            "InvalidRequestException"
        )
    assert cloud.describe_ca_certificate(ca_id)["certificateDescription"]["status"] == "INACTIVE"
    assert _error(cloud.describe_ca_certificate, "0" * 64).code == "ResourceNotFoundException"
    assert _error(cloud.describe_ca_certificate, "xyz").code == "InvalidRequestException"


def test_delete_ca_certificate_only_when_inactive(cloud: Cloud) -> None:
    ca_id = _register(cloud, OwnCa(), set_as_active=True)
    assert _error(cloud.delete_ca_certificate, ca_id).code == "CertificateStateException"
    cloud.update_ca_certificate(ca_id, new_status="INACTIVE")
    cloud.delete_ca_certificate(ca_id)
    assert cloud.list_ca_certificates()["certificates"] == []
    assert _error(cloud.delete_ca_certificate, ca_id).code == "ResourceNotFoundException"


def test_register_certificate_under_its_ca(cloud: Cloud) -> None:
    ca = OwnCa()
    ca_id = _register(cloud, ca, set_as_active=True)
    device = ca.device("deviceCert")
    registered = cloud.register_certificate(device.certificate_pem, ca.pem)
    certificate_id = registered["certificateId"]
    assert registered["certificateArn"].endswith(f":cert/{certificate_id}")
    described = cloud.describe_certificate(certificate_id)["certificateDescription"]
    assert described["status"] == "INACTIVE"  # then update-certificate --new-status ACTIVE
    assert described["caCertificateId"] == ca_id
    assert described["certificateMode"] == "DEFAULT"
    # without --ca-certificate-pem: the registered CA that signed it is found
    other = cloud.register_certificate(ca.device("second").certificate_pem, set_as_active=True)
    listed = cloud.list_certificates_by_ca(ca_id, ascending_order=True)["certificates"]
    assert [(c["certificateId"], c["status"]) for c in listed] == [
        (certificate_id, "INACTIVE"),
        (other["certificateId"], "ACTIVE"),
    ]
    assert cloud.register_certificate(ca.device("third").certificate_pem, status="ACTIVE")
    error = _error(cloud.register_certificate, device.certificate_pem, ca.pem)
    assert error.code == "ResourceAlreadyExistsException"


def test_register_certificate_refused_cases_create_nothing(cloud: Cloud) -> None:
    ca = OwnCa()
    ca_id = _register(cloud, ca)  # INACTIVE
    stranger = OwnCa("Not Registered CA")
    cases = [
        ((ca.device("a").certificate_pem, ca.pem), "CertificateStateException"),  # CA INACTIVE
        ((stranger.device("b").certificate_pem, None), "CertificateValidationException"),
        ((stranger.device("c").certificate_pem, stranger.pem), "CertificateValidationException"),
        ((stranger.device("d").certificate_pem, ca.pem), "CertificateValidationException"),
        (("garbage", ca.pem), "CertificateValidationException"),
    ]
    for args, code in cases:
        assert _error(cloud.register_certificate, *args).code == code
    assert _error(cloud.register_certificate, ca.device("e").certificate_pem, status="X").code == (
        "InvalidRequestException"
    )
    assert cloud.list_certificates()["certificates"] == []
    assert cloud.list_certificates_by_ca(ca_id)["certificates"] == []


def test_register_certificate_without_ca(cloud: Cloud) -> None:
    device = OwnCa("Unregistered CA").device("sni-device")
    registered = cloud.register_certificate_without_ca(device.certificate_pem, "ACTIVE")
    described = cloud.describe_certificate(registered["certificateId"])["certificateDescription"]
    assert described["status"] == "ACTIVE"
    assert described["certificateMode"] == "SNI_ONLY"
    assert "caCertificateId" not in described


def test_list_pages_with_marker(cloud: Cloud) -> None:
    ca = OwnCa()
    ca_id = _register(cloud, ca, set_as_active=True)
    _register(cloud, OwnCa("Second CA"))
    ids = [
        cloud.register_certificate(ca.device(f"d{i}").certificate_pem)["certificateId"]
        for i in range(3)
    ]
    first = cloud.list_certificates_by_ca(ca_id, ascending_order=True, page_size=2)
    assert [c["certificateId"] for c in first["certificates"]] == ids[:2]
    rest = cloud.list_certificates_by_ca(
        ca_id, ascending_order=True, page_size=2, marker=first["nextMarker"]
    )
    assert [c["certificateId"] for c in rest["certificates"]] == ids[2:]
    assert "nextMarker" not in rest
    newest_first = cloud.list_ca_certificates()["certificates"]
    assert newest_first[-1]["certificateId"] == ca_id  # ascendingOrder defaults to false
    assert len(cloud.list_ca_certificates(page_size=1)["certificates"]) == 1
    for kwargs in ({"page_size": 0}, {"page_size": 251}, {"marker": "x"}):
        assert _error(cloud.list_ca_certificates, **kwargs).code == "InvalidRequestException"


def _odd_pems() -> list[str]:
    ca = OwnCa()
    truncated = ca.pem[: len(ca.pem) // 2] + "\n-----END CERTIFICATE-----\n"
    key = ca.device("k").key_pem.decode()
    return ["", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", truncated, key]


@pytest.mark.parametrize("odd", _odd_pems())
def test_odd_pem_input_is_an_aws_error_and_creates_nothing(cloud: Cloud, odd: str) -> None:
    ca = OwnCa()
    code = cloud.get_registration_code()["registrationCode"]
    calls = [
        (cloud.register_ca_certificate, (odd, ca.verification_certificate(code))),
        (cloud.register_ca_certificate, (ca.pem, odd)),
        (cloud.register_certificate, (odd,)),
        (cloud.register_certificate, (ca.device("x").certificate_pem, odd)),
        (cloud.register_certificate_without_ca, (odd,)),
    ]
    for call, args in calls:
        assert _error(call, *args).code == "CertificateValidationException"
    assert cloud.list_ca_certificates()["certificates"] == []
    assert cloud.list_certificates()["certificates"] == []
