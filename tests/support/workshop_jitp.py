"""The workshop's JITP provisioning template ($TB in S004 §JITP, unescaped), shared by the tests
that register the workshop's own CA with it."""

from __future__ import annotations

from typing import Any


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
