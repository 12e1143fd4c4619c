"""The workshop's own-CA steps (S004 §JITP): its provisioning template ($TB, unescaped) and the
CA registration as its `aws iot` commands run, shared by the tests that replay them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from own_ca import OwnCa

from rig.pytest_plugin.cli_runner import buttonrig as run
from rig.pytest_plugin.cli_runner import buttonrig_json as run_json


def jitp_template(policy_name: str) -> dict[str, Any]:
    """The template with the workshop's $IOT_POLICY filled in as `policy_name`."""
    return {
        "Parameters": {
            "AWS::IoT::Certificate::Id": {"Type": "String"},
            "AWS::IoT::Certificate::CommonName": {"Type": "String"},
            "AWS::IoT::Certificate::Country": {"Type": "String"},
        },
        "Resources": {
            "thing": {
                "Type": "AWS::IoT::Thing",
                "Properties": {
                    "ThingName": {"Ref": "AWS::IoT::Certificate::CommonName"},
                    "AttributePayload": {"Country": {"Ref": "AWS::IoT::Certificate::Country"}},
                    "ThingGroups": ["bulk-group"],
                },
            },
            "certificate": {
                "Type": "AWS::IoT::Certificate",
                "Properties": {
                    "CertificateId": {"Ref": "AWS::IoT::Certificate::Id"},
                    "Status": "ACTIVE",
                },
            },
            "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": policy_name}},
        },
    }


def register_ca(home: Path, directory: Path, ca: OwnCa) -> str:
    """`ca` registered and made ACTIVE through the CLI as the workshop does it: rootCA.pem and
    verificationCert.pem (CN = the registration code) in `directory`, register-ca-certificate,
    update-ca-certificate; the CA certificate's id."""
    (directory / "rootCA.pem").write_text(ca.pem)
    code = run_json(home, "iot", "get-registration-code")["registrationCode"]
    (directory / "verificationCert.pem").write_text(ca.verification_certificate(code))
    ca_id = run_json(home, "iot", "register-ca-certificate", "--ca-certificate", f"file://{directory / 'rootCA.pem'}", "--verification-cert", f"file://{directory / 'verificationCert.pem'}")["certificateId"]  # fmt: skip
    run(home, "iot", "update-ca-certificate", "--new-status", "ACTIVE", "--certificate-id", ca_id)
    return ca_id
