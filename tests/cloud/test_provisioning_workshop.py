"""The AWS IoT Device Management workshop's provisioning sections replayed with `buttonrig` in
place of `aws` (spec-1click-workshop.md §5.4 single device with register-thing, §5.5 bulk with
start-thing-registration-task and S3), with the workshop's own inputs (rig.strategies.workshop),
and the bad inputs: aws-cli-like errors and nothing half-created."""

from __future__ import annotations

import json
import queue
import time
import urllib.request
from pathlib import Path

import pytest

from rig.cloud.core import arn
from rig.cloud.runtime import temporary_cloud
from rig.mqtt.device_client import DeviceClient
from rig.pytest_plugin.cli_runner import buttonrig as run
from rig.pytest_plugin.cli_runner import buttonrig_json as run_json
from rig.strategies.workshop import make_bulk, make_device, write_template

S3_BUCKET = "iot-dm-ws-bucket"
PROVISIONING_ROLE = "arn:aws:iam::123456789012:role/IoTDMWSProvisioningRole"


@pytest.fixture(scope="module")
def cloud_runtime():
    """This module's cloud has the object store (S3) and the bulk tasks, as `cloud up` has."""
    with temporary_cloud(objects=True) as runtime:
        yield runtime


@pytest.fixture(scope="module")
def workshop(cloud_runtime):
    """The group and type §5.4 creates first ("Group and type must exist before")."""
    home = cloud_runtime.home
    run(home, "iot", "create-thing-group", "--thing-group-name", "bulk-group")
    run(home, "iot", "create-thing-type", "--thing-type-name", "bulk-type")
    run(home, "s3", "mb", f"s3://{S3_BUCKET}")  # the CloudFormation stack's bucket
    return cloud_runtime


def publishes(cloud, cert: Path, key: Path, client_id: str, message: dict) -> dict:
    """mosquitto_pub … -t iot/ws -i <client id>, seen by the device's own subscription."""
    client = DeviceClient(cloud.endpoint, cert, key, client_id)
    try:
        client.connect()
        client.subscribe("iot/ws")
        client.publish("iot/ws", message)
        return client.expect("iot/ws")
    finally:
        client.close()


def counts(cloud) -> tuple[int, int, int]:
    api = cloud.cloud
    return (
        len(api.list_things()["things"]),
        len(api.list_certificates()["certificates"]),
        len(api.list_policies()["policies"]),
    )


def wait_done(home: Path, task_id: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        task = run_json(home, "iot", "describe-thing-registration-task", "--task-id", task_id)
        if task["status"] not in ("InProgress", "Cancelling"):
            return task
        assert time.monotonic() < deadline, f"task {task_id} still {task['status']}"
        time.sleep(0.1)


EVENT_TYPES = (
    "THING_TYPE",
    "JOB_EXECUTION",
    "THING_GROUP_HIERARCHY",
    "CERTIFICATE",
    "THING_TYPE_ASSOCIATION",
    "THING_GROUP_MEMBERSHIP",
    "CA_CERTIFICATE",
    "THING",
    "JOB",
    "POLICY",
    "THING_GROUP",
)


def event_configurations(enabled: bool) -> str:
    """The workshop's --cli-input-json for update-event-configurations (§5.2, §5.12)."""
    return json.dumps(
        {"eventConfigurations": {name: {"Enabled": enabled} for name in EVENT_TYPES}}
    )


def test_device_provisioning_with_the_api(workshop, tmp_path: Path) -> None:
    """§5.2-5.3: events on, create-thing (an event), keys and certificate, policy, the
    attachments, update-thing (an event), publish with client id = thing name, events off."""
    home, thing_name = workshop.home, "my-first-thing"
    events: queue.Queue[str] = queue.Queue()
    workshop.service.subscribe(f"$aws/events/thing/{thing_name}/+", lambda t, _p: events.put(t))
    run(home, "iot", "update-event-configurations", "--cli-input-json", event_configurations(True))
    run(home, "iot", "create-thing", "--thing-name", thing_name)
    assert events.get(timeout=10) == f"$aws/events/thing/{thing_name}/created"
    response = tmp_path / "create_cert_and_keys_response"
    response.write_text(
        run(
            home,
            "iot",
            "create-keys-and-certificate",
            "--set-as-active",
            "--public-key-outfile",
            str(tmp_path / f"{thing_name}.public.key"),
            "--private-key-outfile",
            str(tmp_path / f"{thing_name}.private.key"),
            "--certificate-pem-outfile",
            str(tmp_path / f"{thing_name}.certificate.pem"),
        ).stdout
    )
    created = json.loads(response.read_text())
    certificate_arn, certificate_id = created["certificateArn"], created["certificateId"]
    assert certificate_arn == arn.cert_arn(certificate_id)
    policy_name = f"{thing_name}_Policy"
    run(
        home, "iot", "create-policy", "--policy-name", policy_name, "--policy-document",
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action": "iot:*","Resource":"*"}]}',
    )  # fmt: skip
    run(home, "iot", "attach-policy", "--policy-name", policy_name, "--target", certificate_arn)
    run(
        home, "iot", "attach-thing-principal", "--thing-name", thing_name,
        "--principal", certificate_arn,
    )  # fmt: skip
    listed = run_json(home, "iot", "list-things")["things"]
    assert thing_name in [t["thingName"] for t in listed]
    run(
        home, "iot", "update-thing", "--thing-name", thing_name,
        "--attribute-payload", '{"attributes": {"type": "ws-device"}}',
    )  # fmt: skip
    assert events.get(timeout=10) == f"$aws/events/thing/{thing_name}/updated"
    assert run_json(home, "iot", "describe-endpoint")["endpointAddress"] == "localhost"
    message = {"prov": "first", "date": time.ctime()}
    cert = tmp_path / f"{thing_name}.certificate.pem"
    key = tmp_path / f"{thing_name}.private.key"
    assert publishes(workshop, cert, key, thing_name, message) == message
    run(
        home, "iot", "update-event-configurations", "--cli-input-json", event_configurations(False)
    )
    run(
        home, "iot", "update-thing", "--thing-name", thing_name,
        "--attribute-payload", '{"attributes": {"type": "ws-device-2"}}',
    )  # fmt: skip
    with pytest.raises(queue.Empty):
        events.get(timeout=1)  # events off: no further messages (TV-21)


def test_single_device_provisioning_with_register_thing(workshop, tmp_path: Path) -> None:
    """§5.4: mk-prov.sh my-second-thing, register-thing, save the certificate, publish."""
    home, thing_name = workshop.home, "my-second-thing"
    template = write_template(tmp_path)
    parameters = make_device(tmp_path, thing_name, "20331")
    out = run_json(
        home,
        "iot",
        "register-thing",
        "--template-body",
        f"file://{template}",
        "--parameters",
        json.dumps(parameters),
    )
    assert set(out) == {"certificatePem", "resourceArns"}
    assert out["certificatePem"].startswith("-----BEGIN CERTIFICATE-----")
    arns = out["resourceArns"]
    assert set(arns) == {"thing", "certificate", "policy"}  # the template's logical names
    assert arns["thing"] == arn.thing_arn(thing_name)
    certificate_id = arns["certificate"].rsplit("/", 1)[1]
    described = run_json(home, "iot", "describe-certificate", "--certificate-id", certificate_id)
    assert described["certificateDescription"]["status"] == "ACTIVE"
    assert described["certificateDescription"]["certificatePem"] == out["certificatePem"]
    thing = run_json(home, "iot", "describe-thing", "--thing-name", thing_name)
    assert thing["thingTypeName"] == "bulk-type"
    assert thing["attributes"] == {"version": "v1", "serialNumber": "20331"}
    groups = run_json(home, "iot", "list-thing-groups-for-thing", "--thing-name", thing_name)
    assert [g["groupName"] for g in groups["thingGroups"]] == ["bulk-group"]
    principals = run_json(home, "iot", "list-thing-principals", "--thing-name", thing_name)
    assert principals["principals"] == [arns["certificate"]]
    policies = run_json(home, "iot", "list-attached-policies", "--target", arns["certificate"])
    policy_name = arns["policy"].rsplit("/", 1)[1]
    assert [p["policyName"] for p in policies["policies"]] == [policy_name]
    # echo -e [CERTIFICATE_PEM] > $THING_NAME.crt; mosquitto_pub … -i $THING_NAME
    (tmp_path / f"{thing_name}.crt").write_text(out["certificatePem"])
    message = {"prov": "second", "date": time.ctime()}
    got = publishes(
        workshop,
        tmp_path / f"{thing_name}.crt",
        tmp_path / f"{thing_name}.key",
        thing_name,
        message,
    )
    assert got == message


def test_bulk_device_provisioning_with_a_registration_task(workshop, tmp_path: Path) -> None:
    """§5.5: mk-bulk.sh bulky 20, s3 cp/ls, start-thing-registration-task, the reports,
    bulk-result.py, list-things, publish as one of them."""
    home = workshop.home
    template = write_template(tmp_path)
    bulk = make_bulk(tmp_path, "bulky", 20)
    copied = run(home, "s3", "cp", str(bulk), f"s3://{S3_BUCKET}/")
    assert copied.stdout.strip() == f"upload: {bulk} to s3://{S3_BUCKET}/bulk.json"
    listed = run(home, "s3", "ls", f"s3://{S3_BUCKET}/").stdout
    assert listed.split()[-2:] == [str(bulk.stat().st_size), "bulk.json"]
    started = run_json(
        home,
        "iot",
        "start-thing-registration-task",
        "--template-body",
        f"file://{template}",
        "--input-file-bucket",
        S3_BUCKET,
        "--input-file-key",
        "bulk.json",
        "--role-arn",
        PROVISIONING_ROLE,
    )
    task = wait_done(home, started["taskId"])
    assert task["status"] == "Completed"
    assert (task["successCount"], task["failureCount"], task["percentageProgress"]) == (20, 0, 100)
    assert started["taskId"] in run_json(home, "iot", "list-thing-registration-tasks")["taskIds"]
    errors = run_json(
        home, "iot", "list-thing-registration-task-reports",
        "--report-type", "ERRORS", "--task-id", started["taskId"],
    )  # fmt: skip
    assert errors == {"resourceLinks": [], "reportType": "ERRORS"}
    results = run_json(
        home, "iot", "list-thing-registration-task-reports",
        "--task-id", started["taskId"], "--report-type", "RESULTS",
    )  # fmt: skip
    [link] = results["resourceLinks"]
    with urllib.request.urlopen(link, timeout=10) as response:  # wget -O results.json <link>
        lines = response.read().decode().splitlines()
    assert len(lines) == 20  # one line per input line
    for line in lines:  # bulk-result.py: <thing>.crt from response.CertificatePem
        result = json.loads(line)
        thing = result["response"]["ResourceArns"]["thing"].split("/")[1]
        (tmp_path / f"{thing}.crt").write_text(result["response"]["CertificatePem"])
    names = {t["thingName"] for t in run_json(home, "iot", "list-things")["things"]}
    assert {f"bulky{i}" for i in range(1, 21)} <= names
    message = {"prov": "bulk", "date": time.ctime()}
    assert publishes(workshop, tmp_path / "bulky7.crt", tmp_path / "bulky7.key", "bulky7", message)
    # the exercise: every bulk-provisioned thing publishes (a few here, the same path)
    for i in (1, 13, 20):
        crt, key = tmp_path / f"bulky{i}.crt", tmp_path / f"bulky{i}.key"
        assert publishes(workshop, crt, key, f"bulky{i}", {"n": i}) == {"n": i}


def test_two_hundred_things_by_one_task_with_bad_lines_reported(workshop, tmp_path) -> None:
    home = workshop.home
    template = write_template(tmp_path)
    bulk = make_bulk(tmp_path, "button", 200)
    lines = bulk.read_text().splitlines()
    lines[49] = lines[49].replace("BEGIN CERTIFICATE REQUEST", "BEGIN GARBAGE")  # line 50
    lines[119] = "{not json"  # line 120
    bulk.write_text("\n".join(lines) + "\n")
    run(home, "s3", "cp", str(bulk), f"s3://{S3_BUCKET}/two-hundred.json")
    before = counts(workshop)
    started = run_json(
        home, "iot", "start-thing-registration-task", "--template-body", f"file://{template}",
        "--input-file-bucket", S3_BUCKET, "--input-file-key", "two-hundred.json",
        "--role-arn", PROVISIONING_ROLE,
    )  # fmt: skip
    task = wait_done(home, started["taskId"])
    assert (task["status"], task["successCount"], task["failureCount"]) == ("Completed", 198, 2)
    errors = run_json(
        home, "iot", "list-thing-registration-task-reports",
        "--task-id", started["taskId"], "--report-type", "ERRORS",
    )  # fmt: skip
    with urllib.request.urlopen(errors["resourceLinks"][0], timeout=10) as response:
        reported = [json.loads(line) for line in response.read().decode().splitlines()]
    assert [r["lineNumber"] for r in reported] == [50, 120]
    assert reported[0]["errorCode"] == "InvalidRequestException"
    assert "CSR" in reported[0]["errorMessage"]
    assert "JSON" in reported[1]["errorMessage"]
    things, certificates, policies = counts(workshop)
    # 198 new things and certificates; the one policy (named by its document's hash) is shared
    assert (things - before[0], certificates - before[1]) == (198, 198)
    assert policies - before[2] in (0, 1)
    assert not workshop.cloud.registry.thing_exists("button50")
    assert not workshop.cloud.registry.thing_exists("button120")
    assert workshop.cloud.registry.thing_exists("button200")

    # then found with fleet indexing, by an attribute and by a shadow value
    run(
        home, "iot", "update-indexing-configuration",
        "--thing-indexing-configuration", "thingIndexingMode=REGISTRY_AND_SHADOW",
    )  # fmt: skip
    for serial, battery in (("7", 2400), ("77", 2900), ("177", 2300)):
        run(
            home, "iot-data", "update-thing-shadow", "--thing-name", f"button{serial}",
            "--payload", json.dumps({"state": {"reported": {"battery_mv": battery}}}),
            str(tmp_path / "shadow-out.json"),
        )  # fmt: skip
    by_attribute = run_json(
        home, "iot", "search-index", "--index-name", "AWS_Things",
        "--query-string", "thingName:button* AND attributes.serialNumber:17*",
    )  # fmt: skip
    found = sorted(t["thingName"] for t in by_attribute["things"])
    assert found == sorted(["button17", *[f"button17{i}" for i in range(10)]]), found
    low = run_json(
        home, "iot", "search-index", "--index-name", "AWS_Things",
        "--query-string", "shadow.reported.battery_mv<2500 AND attributes.version:v1",
    )  # fmt: skip
    assert sorted(t["thingName"] for t in low["things"]) == ["button177", "button7"], low


def test_bad_inputs_give_aws_errors_and_create_nothing(workshop, tmp_path: Path) -> None:
    home = workshop.home
    template = write_template(tmp_path)
    good = make_device(tmp_path, "half-made", "1")
    unknown_ref = json.loads(template.read_text())
    unknown_ref["Resources"]["thing"]["Properties"]["ThingName"] = {"Ref": "DeviceName"}
    (tmp_path / "unknown-ref.json").write_text(json.dumps(unknown_ref))
    missing_group = json.loads(template.read_text())
    missing_group["Resources"]["thing"]["Properties"]["ThingGroups"] = ["no-such-group"]
    (tmp_path / "missing-group.json").write_text(json.dumps(missing_group))
    cases = [
        ("unknown-ref.json", good, "InvalidRequestException", "Ref 'DeviceName'"),
        ("templateBody.json", {**good, "CSR": "not a CSR"}, "InvalidRequestException", "CSR"),
        ("missing-group.json", good, "ResourceNotFoundException", "no-such-group"),
    ]
    before = counts(workshop)
    for name, parameters, code, detail in cases:
        failed = run(
            home, "iot", "register-thing", "--template-body", f"file://{tmp_path / name}",
            "--parameters", json.dumps(parameters), ok=False,
        )  # fmt: skip
        assert failed.returncode == 255
        assert failed.stderr.startswith(
            f"buttonrig: An error occurred ({code}) when calling the RegisterThing operation: "
        ), failed.stderr
        assert detail in failed.stderr
        assert counts(workshop) == before, f"{name}: something was created"
    assert not workshop.cloud.registry.thing_exists("half-made")
    missing = run(
        home, "iot", "start-thing-registration-task", "--template-body", f"file://{template}",
        "--input-file-bucket", S3_BUCKET, "--input-file-key", "no-such.json",
        "--role-arn", PROVISIONING_ROLE, ok=False,
    )  # fmt: skip
    assert (
        "(InvalidRequestException) when calling the StartThingRegistrationTask" in missing.stderr
    )


def test_s3_verbs_on_the_object_store(workshop, tmp_path: Path) -> None:
    home = workshop.home
    assert run(home, "s3", "mb", "s3://scratch-bucket").stdout == "make_bucket: scratch-bucket\n"
    source = tmp_path / "job-document.json"
    source.write_text('{"operation": "sys-info"}')
    run(home, "s3", "cp", str(source), "s3://scratch-bucket/jobs/job-document.json")
    listed = run(home, "s3", "ls", "s3://scratch-bucket/").stdout.split()
    assert listed == ["PRE", "jobs/"]
    back = tmp_path / "back.json"
    downloaded = run(home, "s3", "cp", "s3://scratch-bucket/jobs/job-document.json", str(back))
    assert downloaded.stdout.startswith("download: ")
    assert back.read_text() == source.read_text()
    buckets = run(home, "s3", "ls").stdout
    assert "scratch-bucket" in buckets
    # clean-up: aws s3 rm s3://$S3_BUCKET --include "*" --recursive
    run(home, "s3", "rm", "s3://scratch-bucket", "--include", "*", "--recursive")
    assert run(home, "s3", "ls", "s3://scratch-bucket/", "--recursive").stdout == ""
    missing = run(home, "s3", "cp", "s3://scratch-bucket/nothing", str(back), ok=False)
    assert missing.returncode == 255
    assert "An error occurred (NoSuchKey)" in missing.stderr
