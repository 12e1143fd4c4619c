"""`buttonrig iot` for your own CA, as the workshop runs it (S004 §JITP, §JITR, §Clean up): the
commands in order with file:// inputs, aws-cli's output shapes and error messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from own_ca import OwnCa

from rig.pytest_plugin.cli_runner import buttonrig as run
from rig.pytest_plugin.cli_runner import buttonrig_json as run_json


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir(mode=0o700)
    return path


def test_workshop_ca_commands_in_order(home: Path, tmp_path: Path) -> None:
    ca = OwnCa()
    root = tmp_path / "rootCA.pem"
    root.write_text(ca.pem)
    code = run_json(home, "iot", "get-registration-code")["registrationCode"]
    verification = tmp_path / "verificationCert.pem"
    verification.write_text(ca.verification_certificate(code))
    registered = run_json(
        home,
        "iot",
        "register-ca-certificate",
        "--ca-certificate",
        f"file://{root}",
        "--verification-cert",  # the guide's and the workshop's spelling
        f"file://{verification}",
    )
    assert set(registered) == {"certificateArn", "certificateId"}
    ca_id = registered["certificateId"]
    described = run_json(home, "iot", "describe-ca-certificate", "--certificate-id", ca_id)
    assert described["certificateDescription"]["status"] == "INACTIVE"
    assert (
        run(
            home,
            "iot",
            "update-ca-certificate",
            "--new-status",
            "ACTIVE",
            "--certificate-id",
            ca_id,
        ).stdout
        == ""
    )
    template = json.dumps({"Resources": {"certificate": {"Type": "AWS::IoT::Certificate"}}})
    run(
        home,
        "iot",
        "update-ca-certificate",
        "--certificate-id",
        ca_id,
        "--no-remove-auto-registration",
        "--new-auto-registration-status",
        "ENABLE",
        "--registration-config",
        json.dumps({"templateBody": template, "roleArn": "arn:aws:iam::123456789012:role/JITP"}),
    )
    described = run_json(home, "iot", "describe-ca-certificate", "--certificate-id", ca_id)
    assert described["certificateDescription"]["autoRegistrationStatus"] == "ENABLE"
    assert described["registrationConfig"]["templateBody"] == template
    run(
        home,
        "iot",
        "update-ca-certificate",
        "--certificate-id",
        ca_id,
        "--remove-auto-registration",
        "--new-auto-registration-status",
        "DISABLE",
    )
    assert "registrationConfig" not in run_json(
        home, "iot", "describe-ca-certificate", "--certificate-id", ca_id
    )
    device = tmp_path / "deviceCert.pem"
    device.write_text(ca.device("deviceCert").certificate_pem)
    certificate = run_json(
        home,
        "iot",
        "register-certificate",
        "--certificate-pem",
        f"file://{device}",
        "--ca-certificate-pem",
        f"file://{root}",
    )
    listed = run_json(home, "iot", "list-certificates-by-ca", "--ca-certificate-id", ca_id)
    assert [c["certificateId"] for c in listed["certificates"]] == [certificate["certificateId"]]
    cas = run_json(home, "iot", "list-ca-certificates")["certificates"]
    assert [c["certificateId"] for c in cas] == [ca_id]
    # clean up as the workshop: inactivate, then delete
    refused = run(home, "iot", "delete-ca-certificate", "--certificate-id", ca_id, ok=False)
    assert refused.returncode != 0
    assert "(CertificateStateException) when calling the DeleteCACertificate" in refused.stderr
    run(
        home, "iot", "update-ca-certificate", "--new-status", "INACTIVE", "--certificate-id", ca_id
    )
    run(home, "iot", "delete-ca-certificate", "--certificate-id", ca_id)
    assert run_json(home, "iot", "list-ca-certificates") == {"certificates": []}


def test_wrong_registration_code_is_an_aws_cli_error(home: Path, tmp_path: Path) -> None:
    ca = OwnCa()
    root = tmp_path / "rootCA.pem"
    root.write_text(ca.pem)
    verification = tmp_path / "verificationCert.pem"
    verification.write_text(ca.verification_certificate("XXXXXXXXXXXXYOURREGISTRATIONCODEXXXXXX"))
    run(home, "iot", "get-registration-code")
    result = run(
        home,
        "iot",
        "register-ca-certificate",
        "--ca-certificate",
        f"file://{root}",
        "--verification-certificate",
        f"file://{verification}",
        ok=False,
    )
    assert result.returncode != 0 and result.stdout == ""
    assert result.stderr.strip() == (
        "buttonrig: An error occurred (RegistrationCodeValidationException) when calling the"
        " RegisterCACertificate operation: The registration code is invalid."
    )
    assert run_json(home, "iot", "list-ca-certificates") == {"certificates": []}


def test_register_certificate_without_ca_cli(home: Path, tmp_path: Path) -> None:
    device = tmp_path / "sni.pem"
    device.write_text(OwnCa("Other CA").device("sni").certificate_pem)
    registered = run_json(
        home,
        "iot",
        "register-certificate-without-ca",
        "--certificate-pem",
        f"file://{device}",
        "--status",
        "ACTIVE",
    )
    described = run_json(
        home, "iot", "describe-certificate", "--certificate-id", registered["certificateId"]
    )
    assert described["certificateDescription"]["certificateMode"] == "SNI_ONLY"
    bad = run(
        home, "iot", "register-certificate-without-ca", "--certificate-pem", "nonsense", ok=False
    )
    assert "(CertificateValidationException)" in bad.stderr
