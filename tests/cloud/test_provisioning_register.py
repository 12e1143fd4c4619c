"""RegisterThing on a Cloud without a running broker: existing things (OverrideSettings), an
existing certificate by id, an existing policy by name (docs/cloud-decisions.md PV-4..PV-6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rig.cloud.api import Cloud
from rig.cloud.core.errors import CloudError, ResourceNotFoundException


@pytest.fixture
def api(tmp_path: Path):
    cloud = Cloud(tmp_path / "home")
    for group in ("old-group", "new-group"):
        cloud.create_thing_group(group)
    cloud.create_thing_type("lamp")
    yield cloud
    cloud.close()


def thing_template(overrides: dict | None = None, **properties: object) -> str:
    resource: dict = {
        "Type": "AWS::IoT::Thing",
        "Properties": {"ThingName": {"Ref": "ThingName"}, **properties},
    }
    if overrides:
        resource["OverrideSettings"] = overrides
    return json.dumps(
        {"Parameters": {"ThingName": {"Type": "String"}}, "Resources": {"thing": resource}}
    )


def groups(api: Cloud, name: str) -> list[str]:
    return sorted(g["groupName"] for g in api.list_thing_groups_for_thing(name)["thingGroups"])


def test_an_existing_thing_is_left_alone_without_override_settings(api: Cloud) -> None:
    api.create_thing("t1", attribute_payload={"attributes": {"a": "1"}})
    api.add_thing_to_thing_group(thing_group_name="old-group", thing_name="t1")
    body = thing_template(AttributePayload={"b": "2"}, ThingGroups=["new-group"])
    out = api.register_thing(body, {"ThingName": "t1"})
    assert out == {"resourceArns": {"thing": api.describe_thing("t1")["thingArn"]}}
    assert api.describe_thing("t1")["attributes"] == {"a": "1"}
    assert groups(api, "t1") == ["old-group"]


def test_override_settings_merge_replace_and_fail(api: Cloud) -> None:
    api.create_thing("t2", attribute_payload={"attributes": {"a": "1"}})
    api.add_thing_to_thing_group(thing_group_name="old-group", thing_name="t2")
    merged = thing_template(
        {"AttributePayload": "MERGE", "ThingGroups": "MERGE", "ThingTypeName": "REPLACE"},
        AttributePayload={"b": "2"},
        ThingGroups=["new-group"],
        ThingTypeName="lamp",
    )
    api.register_thing(merged, {"ThingName": "t2"})
    described = api.describe_thing("t2")
    assert described["attributes"] == {"a": "1", "b": "2"}
    assert described["thingTypeName"] == "lamp"
    assert groups(api, "t2") == ["new-group", "old-group"]
    replaced = thing_template(
        {"AttributePayload": "REPLACE", "ThingGroups": "REPLACE"},
        AttributePayload={"c": "3"},
        ThingGroups=["new-group"],
    )
    api.register_thing(replaced, {"ThingName": "t2"})
    assert api.describe_thing("t2")["attributes"] == {"c": "3"}
    assert groups(api, "t2") == ["new-group"]
    failing = thing_template({"AttributePayload": "FAIL"}, AttributePayload={"d": "4"})
    with pytest.raises(CloudError) as failed:
        api.register_thing(failing, {"ThingName": "t2"})
    assert failed.value.code == "ResourceConflictsException"
    assert api.describe_thing("t2")["attributes"] == {"c": "3"}


def test_an_existing_certificate_by_id_and_policy_by_name(api: Cloud) -> None:
    created = api.create_keys_and_certificate()  # INACTIVE: no --set-as-active
    api.create_policy(
        "existing",
        '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "iot:Connect",'
        ' "Resource": "*"}}',
    )
    body = json.dumps(
        {
            "Parameters": {"CertificateId": {"Type": "String"}},
            "Resources": {
                "certificate": {
                    "Type": "AWS::IoT::Certificate",
                    "Properties": {"CertificateId": {"Ref": "CertificateId"}, "Status": "ACTIVE"},
                },
                "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "existing"}},
            },
        }
    )
    out = api.register_thing(body, {"CertificateId": created["certificateId"]})
    assert out["certificatePem"] == created["certificatePem"]
    assert out["resourceArns"]["certificate"] == created["certificateArn"]
    described = api.describe_certificate(created["certificateId"])["certificateDescription"]
    assert described["status"] == "ACTIVE"  # the template's Status applied
    attached = api.list_attached_policies(created["certificateArn"])["policies"]
    assert [p["policyName"] for p in attached] == ["existing"]
    missing = body.replace('"existing"', '"not-there"')
    with pytest.raises(ResourceNotFoundException):
        api.register_thing(missing, {"CertificateId": created["certificateId"]})
