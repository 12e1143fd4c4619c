"""The workshop's clean-up section (spec-1click-workshop.md §5.12) leaves the cloud empty.

The resources the workshop's sections leave behind are made first (§5.2 events, §5.3
my-first-thing, §5.4/§5.5 register-thing things in bulk-group/bulk-type and bulk.json in S3, §5.6
the CA and a device certificate under it, §5.7 JITRRule, the jitr function and a jitr-<id>
thing, §5.8 job-agent and job 468, §5.9 indexing, §5.10 building-one with SmartBuilding_Policy
and group-member, §5.11 a DEBUG level for building-one; each section's own replay is tested
elsewhere). Then the clean-up commands run in the workshop's order with `buttonrig` in place of
`aws`; `clean-up.py` (not shown by the workshop) deletes the `bulky*` and `jitr-*` things with
their certificates; "any remaining resources ... delete them manually" and the CloudFormation
stack's own policy follow. Afterwards every listing is empty."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from function_zip import write_function_zip
from own_ca import OwnCa
from workshop_jitp import register_ca

from rig.cloud.registry import thing_types
from rig.cloud.runtime import temporary_cloud
from rig.pytest_plugin.cli_runner import buttonrig as run
from rig.pytest_plugin.cli_runner import buttonrig_json as run_json
from rig.strategies.workshop import make_device, write_template

S3_BUCKET = "iot-dm-ws-bucket"
IOT_POLICY = "IoTDMWSPolicy"  # the stack's $IOT_POLICY
ROLE = "arn:aws:iam::123456789012:role/IoTDMWSRole"
ALLOW_ALL = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action": "iot:*","Resource":"*"}]}'
)
EVENT_TYPES = (
    "THING_TYPE JOB_EXECUTION THING_GROUP_HIERARCHY CERTIFICATE THING_TYPE_ASSOCIATION"
    " THING_GROUP_MEMBERSHIP CA_CERTIFICATE THING JOB POLICY THING_GROUP"
).split()


def _events(enabled: bool) -> str:
    return json.dumps(
        {"eventConfigurations": {name: {"Enabled": enabled} for name in EVENT_TYPES}}
    )


def _thing_with_certificate(home: Path, name: str, policy: str | None) -> str:
    run(home, "iot", "create-thing", "--thing-name", name)
    created = run_json(home, "iot", "create-keys-and-certificate", "--set-as-active")
    if policy is not None:
        run(home, "iot", "attach-policy", "--policy-name", policy, "--target", created["certificateArn"])  # fmt: skip
    run(home, "iot", "attach-thing-principal", "--thing-name", name, "--principal", created["certificateArn"])  # fmt: skip
    return created["certificateId"]


def _workshop_resources(home: Path, tmp_path: Path) -> None:
    run(home, "iot", "update-event-configurations", "--cli-input-json", _events(True))
    run(home, "iot", "create-policy", "--policy-name", IOT_POLICY, "--policy-document", ALLOW_ALL)
    # §5.3
    run(home, "iot", "create-policy", "--policy-name", "my-first-thing_Policy", "--policy-document", ALLOW_ALL)  # fmt: skip
    _thing_with_certificate(home, "my-first-thing", "my-first-thing_Policy")
    # §5.4, §5.5 (register-thing for the bulk things too: the same resources a task makes)
    run(home, "iot", "create-thing-group", "--thing-group-name", "bulk-group")
    run(home, "iot", "create-thing-type", "--thing-type-name", "bulk-type")
    template = write_template(tmp_path)
    for index, name in enumerate(("my-second-thing", "bulky1", "bulky2")):
        parameters = make_device(tmp_path, name, str(index), index)
        run(home, "iot", "register-thing", "--template-body", f"file://{template}", "--parameters", json.dumps(parameters))  # fmt: skip
    run(home, "s3", "mb", f"s3://{S3_BUCKET}")
    (tmp_path / "bulk.json").write_text(json.dumps(make_device(tmp_path, "bulky9", "9")) + "\n")
    run(home, "s3", "cp", str(tmp_path / "bulk.json"), f"s3://{S3_BUCKET}/")
    # §5.6: the CA, and the JITP device's certificate registered under it
    ca = OwnCa()
    register_ca(home, tmp_path, ca)
    (tmp_path / "deviceJITPCert.pem").write_text(ca.device("my-jitp-device").certificate_pem)
    jitp = run_json(home, "iot", "register-certificate", "--certificate-pem", f"file://{tmp_path / 'deviceJITPCert.pem'}", "--set-as-active")  # fmt: skip
    run(home, "iot", "create-thing", "--thing-name", "my-jitp-device")
    run(home, "iot", "add-thing-to-thing-group", "--thing-name", "my-jitp-device", "--thing-group-name", "bulk-group")  # fmt: skip
    run(home, "iot", "attach-thing-principal", "--thing-name", "my-jitp-device", "--principal", jitp["certificateArn"])  # fmt: skip
    run(home, "iot", "attach-policy", "--policy-name", IOT_POLICY, "--target", jitp["certificateArn"])  # fmt: skip
    # §5.7: rule, function, and what the function makes (thing jitr-<id>, policy <id>)
    rule = {"sql": "SELECT * FROM '$aws/events/certificates/registered/#' WHERE certificateStatus = \"PENDING_ACTIVATION\"", "actions": [{"lambda": {"functionArn": "arn:aws:lambda:us-east-1:123456789012:function:jitr"}}]}  # fmt: skip
    run(home, "lambda", "create-function", "--function-name", "jitr", "--zip-file", f"fileb://{write_function_zip(tmp_path)}", "--role", ROLE, "--handler", "lambda_function.lambda_handler", "--runtime", "python3.12")  # fmt: skip
    run(home, "iot", "create-topic-rule", "--rule-name", "JITRRule", "--topic-rule-payload", json.dumps(rule))  # fmt: skip
    (tmp_path / "deviceJITRCert.pem").write_text(ca.device("deviceJITRCert").certificate_pem)
    jitr = run_json(home, "iot", "register-certificate", "--certificate-pem", f"file://{tmp_path / 'deviceJITRCert.pem'}", "--set-as-active")  # fmt: skip
    jitr_id = jitr["certificateId"]
    run(home, "iot", "create-thing", "--thing-name", f"jitr-{jitr_id}")
    run(home, "iot", "create-policy", "--policy-name", jitr_id, "--policy-document", ALLOW_ALL)
    run(home, "iot", "attach-thing-principal", "--thing-name", f"jitr-{jitr_id}", "--principal", jitr["certificateArn"])  # fmt: skip
    run(home, "iot", "attach-policy", "--policy-name", jitr_id, "--target", jitr["certificateArn"])
    # §5.8
    run(home, "iot", "create-policy", "--policy-name", "job-agent_Policy", "--policy-document", ALLOW_ALL)  # fmt: skip
    _thing_with_certificate(home, "job-agent", "job-agent_Policy")
    document = tmp_path / "job-document.json"
    document.write_text('{"operation": "sys-info", "sys-info": "uptime", "topic": "sys/info"}')
    run(home, "s3", "cp", str(document), f"s3://{S3_BUCKET}/")
    run(home, "iot", "create-job", "--job-id", "468", "--targets", "arn:aws:iot:us-east-1:123456789012:thing/job-agent", "--document-source", f"https://s3.amazonaws.com/{S3_BUCKET}/job-document.json")  # fmt: skip
    # §5.9
    run(home, "iot", "update-indexing-configuration", "--thing-indexing-configuration", "thingIndexingMode=REGISTRY_AND_SHADOW")  # fmt: skip
    # §5.10
    group_arn = run_json(home, "iot", "create-thing-group", "--thing-group-name", "building-one")["thingGroupArn"]  # fmt: skip
    run(home, "iot", "create-policy", "--policy-name", "SmartBuilding_Policy", "--policy-document", ALLOW_ALL)  # fmt: skip
    run(home, "iot", "attach-policy", "--target", group_arn, "--policy-name", "SmartBuilding_Policy")  # fmt: skip
    _thing_with_certificate(home, "group-member", None)
    run(home, "iot", "add-thing-to-thing-group", "--thing-name", "group-member", "--thing-group-name", "building-one")  # fmt: skip
    # §5.1, §5.11
    run(home, "iot", "set-v2-logging-options", "--default-log-level", "WARN", "--role-arn", ROLE)
    run(home, "iot", "set-v2-logging-level", "--log-level", "DEBUG", "--log-target", '{"targetType": "THING_GROUP", "targetName": "building-one"}')  # fmt: skip


def _delete_thing_and_certificates(home: Path, thing: str) -> None:
    """What clean-up.py does for one thing (and "delete them manually" for the rest)."""
    principals = run_json(home, "iot", "list-thing-principals", "--thing-name", thing)
    for principal in principals["principals"]:
        certificate_id = principal.rsplit("/", 1)[1]
        for policy in run_json(home, "iot", "list-attached-policies", "--target", principal)["policies"]:  # fmt: skip
            run(home, "iot", "detach-policy", "--policy-name", policy["policyName"], "--target", principal)  # fmt: skip
        run(home, "iot", "detach-thing-principal", "--thing-name", thing, "--principal", principal)
        run(home, "iot", "update-certificate", "--certificate-id", certificate_id, "--new-status", "INACTIVE")  # fmt: skip
        run(home, "iot", "delete-certificate", "--certificate-id", certificate_id)
    run(home, "iot", "delete-thing", "--thing-name", thing)


def test_the_clean_up_section_leaves_the_cloud_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with temporary_cloud(objects=True) as cloud:
        home = cloud.home
        _workshop_resources(home, tmp_path)
        # ---- §5.12, in the workshop's order ----
        run(home, "iot", "update-event-configurations", "--cli-input-json", _events(False))
        run(home, "iot", "deprecate-thing-type", "--thing-type-name", "bulk-type")
        things = [t["thingName"] for t in run_json(home, "iot", "list-things")["things"]]
        for thing in things:  # clean-up.py: the bulky* and jitr-* things
            if thing.startswith(("bulky", "jitr-")):
                _delete_thing_and_certificates(home, thing)
        run(home, "iot", "update-indexing-configuration", "--thing-indexing-configuration", "thingIndexingMode=OFF")  # fmt: skip
        run(home, "iot", "delete-topic-rule", "--rule-name", "JITRRule")
        run(home, "lambda", "delete-function", "--function-name", "jitr")
        run(home, "s3", "rm", f"s3://{S3_BUCKET}", "--include", "*", "--recursive")
        run(home, "iot", "delete-thing-group", "--thing-group-name", "bulk-group")
        run(home, "iot", "delete-policy", "--policy-name", "SmartBuilding_Policy")
        cas = run_json(home, "iot", "list-ca-certificates")["certificates"]
        assert len(cas) == 1
        ca_id = cas[0]["certificateId"]
        run(home, "iot", "update-ca-certificate", "--new-status", "INACTIVE", "--certificate-id", ca_id)  # fmt: skip
        run(home, "iot", "delete-ca-certificate", "--certificate-id", ca_id)
        # "deprecation of thing-type needs 5min. If this command is not successful, wait and
        # try again"
        early = run(home, "iot", "delete-thing-type", "--thing-type-name", "bulk-type", ok=False)
        assert "5 minutes after deprecation" in early.stderr
        monkeypatch.setattr(thing_types, "THING_TYPE_DELETE_WAIT_MS", 0)  # 5 minutes later
        # still refused: my-second-thing (§5.4) has the type and clean-up.py leaves it (AWS
        # refuses a type with things too); it goes with the remaining resources below
        in_use = run(home, "iot", "delete-thing-type", "--thing-type-name", "bulk-type", ok=False)
        assert "1 thing(s) are still associated" in in_use.stderr
        # "If there are any remaining resources like things, certificates, policies, etc. delete
        # them manually"; "Detach all remaining certificates from the IoT policy $IOT_POLICY"
        for thing in run_json(home, "iot", "list-things")["things"]:
            _delete_thing_and_certificates(home, thing["thingName"])
        run(home, "iot", "delete-thing-type", "--thing-type-name", "bulk-type")  # try again
        run(home, "iot", "delete-job", "--job-id", "468", "--force")
        run(home, "iot", "delete-thing-group", "--thing-group-name", "building-one")
        run(home, "iot", "delete-v2-logging-level", "--target-type", "THING_GROUP", "--target-name", "building-one")  # fmt: skip
        for policy in run_json(home, "iot", "list-policies")["policies"]:
            run(home, "iot", "delete-policy", "--policy-name", policy["policyName"])
        # ---- empty ----
        assert run_json(home, "iot", "list-things") == {"things": []}
        assert run_json(home, "iot", "list-certificates") == {"certificates": []}
        assert run_json(home, "iot", "list-policies") == {"policies": []}
        assert run_json(home, "iot", "list-thing-groups") == {"thingGroups": []}
        assert run_json(home, "iot", "list-thing-types") == {"thingTypes": []}
        assert run_json(home, "iot", "list-ca-certificates") == {"certificates": []}
        assert run_json(home, "iot", "list-topic-rules") == {"rules": []}
        assert run_json(home, "iot", "list-jobs") == {"jobs": []}
        assert run_json(home, "iot", "list-indices") == {"indexNames": []}
        assert run_json(home, "iot", "list-v2-logging-levels") == {"logTargetConfigurations": []}
        assert run_json(home, "lambda", "list-functions") == {"Functions": []}
        assert run(home, "s3", "ls", f"s3://{S3_BUCKET}/", "--recursive").stdout == ""
        configured = run_json(home, "iot", "describe-event-configurations")
        assert not any(c["Enabled"] for c in configured["eventConfigurations"].values())


def test_delete_policy_refuses_a_certificate_attachment_not_a_group_one(tmp_path: Path) -> None:
    """DeletePolicy: "A policy cannot be deleted if ... it is attached to any certificate"; the
    workshop deletes SmartBuilding_Policy while building-one still has it (P-13)."""
    from rig.cloud.api import Cloud
    from rig.cloud.core.errors import DeleteConflictException

    cloud = Cloud(tmp_path / "home")
    try:
        group_arn = cloud.create_thing_group("building-one")["thingGroupArn"]
        cloud.create_policy("SmartBuilding_Policy", ALLOW_ALL)
        cloud.attach_policy("SmartBuilding_Policy", group_arn)
        created = cloud.create_keys_and_certificate(True)
        cloud.create_policy("cert-policy", ALLOW_ALL)
        cloud.attach_policy("cert-policy", created["certificateArn"])
        with pytest.raises(DeleteConflictException):
            cloud.delete_policy("cert-policy")
        cloud.delete_policy("SmartBuilding_Policy")
        assert cloud.list_attached_policies(group_arn)["policies"] == []
        assert [p["policyName"] for p in cloud.list_policies()["policies"]] == ["cert-policy"]
    finally:
        cloud.close()
