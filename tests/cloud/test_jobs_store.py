"""Jobs and executions in the cloud's database (rig/cloud/jobs/store.py) through the `Cloud`
facade: targets by thing and group ARN, snapshot vs continuous, the registry's membership
reaching continuous jobs, persistence across a reopen, and refusals that change nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cloud_home import cloud_with_things

from rig.cloud.api import Cloud
from rig.cloud.core import arn
from rig.cloud.core.errors import CloudError

DOC = json.dumps({"operation": "update", "version": "1.2"})


@pytest.fixture
def cloud(tmp_path: Path):
    with cloud_with_things(tmp_path, ("b1", "b2", "b3", "late")) as cloud:
        cloud.create_thing_group("fleet")
        cloud.create_thing_group("kitchen", parent_group_name="fleet")
        cloud.add_thing_to_thing_group(thing_group_name="fleet", thing_name="b2")
        cloud.add_thing_to_thing_group(thing_group_name="kitchen", thing_name="b3")
        yield cloud


def _things(cloud: Cloud, job_id: str) -> dict[str, str]:
    listed = cloud.list_job_executions_for_job(job_id)["executionSummaries"]
    return {s["thingArn"].rsplit("/", 1)[1]: s["jobExecutionSummary"]["status"] for s in listed}


def test_snapshot_targets_resolved_at_creation_in_order(cloud: Cloud) -> None:
    created = cloud.create_job(
        "ota-1",
        [arn.thing_arn("b1"), arn.thing_group_arn("fleet")],
        document=DOC,
        description="firmware 1.2",
    )
    assert created == {
        "jobArn": "arn:aws:iot:us-east-1:123456789012:job/ota-1",
        "jobId": "ota-1",
        "description": "firmware 1.2",
    }
    # the group's child group counts too; each thing once
    assert _things(cloud, "ota-1") == {"b1": "QUEUED", "b2": "QUEUED", "b3": "QUEUED"}
    cloud.add_thing_to_thing_group(thing_group_name="fleet", thing_name="late")
    assert "late" not in _things(cloud, "ota-1")  # a snapshot
    job = cloud.describe_job("ota-1")["job"]
    assert job["status"] == "IN_PROGRESS" and job["targetSelection"] == "SNAPSHOT"
    assert job["jobProcessDetails"]["numberOfQueuedThings"] == 3
    assert cloud.get_job_document("ota-1") == {"document": DOC}


def test_continuous_job_reaches_a_thing_added_later_and_leaves_one_removed(cloud: Cloud) -> None:
    cloud.create_job(
        "cfg", [arn.thing_group_arn("fleet")], document=DOC, target_selection="CONTINUOUS"
    )
    assert _things(cloud, "cfg") == {"b2": "QUEUED", "b3": "QUEUED"}
    cloud.add_thing_to_thing_group(thing_group_name="kitchen", thing_name="late")
    assert _things(cloud, "cfg")["late"] == "QUEUED"
    cloud.remove_thing_from_thing_group("kitchen", "late")
    assert _things(cloud, "cfg")["late"] == "REMOVED"
    cloud.add_thing_to_thing_group(thing_group_name="fleet", thing_name="late")  # back again
    late = cloud.list_job_executions_for_thing("late")["executionSummaries"]
    assert [e["jobExecutionSummary"]["status"] for e in late] == ["REMOVED", "QUEUED"]
    numbers = [e["jobExecutionSummary"]["executionNumber"] for e in late]
    assert numbers[0] < numbers[1]
    # a continuous job never completes, even when every execution has ended
    for thing in ("b2", "b3", "late"):
        cloud.update_job_execution("cfg", thing, {"status": "SUCCEEDED"})
    assert cloud.describe_job("cfg")["job"]["status"] == "IN_PROGRESS"


def test_device_updates_complete_a_snapshot_job_and_survive_a_reopen(cloud: Cloud) -> None:
    cloud.create_job("j", [arn.thing_arn("b1"), arn.thing_arn("b2")], document=DOC)
    cloud.update_job_execution(
        "j", "b1", {"status": "IN_PROGRESS", "statusDetails": {"step": "download"}}
    )
    cloud.update_job_execution("j", "b1", {"status": "SUCCESS", "expectedVersion": "2"})
    cloud.update_job_execution("j", "b2", {"status": "REJECTED"})
    reopened = Cloud(cloud.home)
    try:
        execution = reopened.describe_job_execution("j", "b1")["execution"]
        assert execution["status"] == "SUCCEEDED" and execution["versionNumber"] == 3
        assert execution["statusDetails"] == {"detailsMap": {"step": "download"}}
        assert execution["startedAt"] <= execution["lastUpdatedAt"]
        job = reopened.describe_job("j")["job"]
        assert job["status"] == "COMPLETED" and "completedAt" in job
        assert job["jobProcessDetails"]["numberOfSucceededThings"] == 1
        assert job["jobProcessDetails"]["numberOfRejectedThings"] == 1
    finally:
        reopened.close()


def test_cancel_job_leaves_in_progress_executions_unless_forced(cloud: Cloud) -> None:
    cloud.create_job("c", [arn.thing_group_arn("fleet")], document=DOC)
    cloud.update_job_execution("c", "b2", {"status": "IN_PROGRESS"})
    cloud.cancel_job("c", comment="bad build")
    assert _things(cloud, "c") == {"b2": "IN_PROGRESS", "b3": "CANCELED"}
    job = cloud.describe_job("c")["job"]
    assert (job["status"], job["comment"], job["forceCanceled"]) == (
        "CANCELED",
        "bad build",
        False,
    )
    with pytest.raises(CloudError) as caught:
        cloud.cancel_job("c", force=True)  # already canceled: nothing changes
    assert caught.value.code == "InvalidRequestException"
    assert _things(cloud, "c")["b2"] == "IN_PROGRESS"
    cloud.create_job("f", [arn.thing_arn("b1")], document=DOC)
    cloud.update_job_execution("f", "b1", {"status": "IN_PROGRESS"})
    cloud.cancel_job("f", force=True)
    assert cloud.describe_job_execution("f", "b1")["execution"]["forceCanceled"] is True
    with pytest.raises(CloudError) as caught:
        cloud.update_job_execution("f", "b1", {"status": "SUCCEEDED"})
    assert caught.value.code == "TerminalStateException"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"document": "{not json"}, "InvalidRequestException"),
        ({"document": "[1, 2]"}, "InvalidRequestException"),
        ({"document": json.dumps({"a": "x" * 32768})}, "InvalidRequestException"),
        ({}, "InvalidRequestException"),
        ({"document": DOC, "target_selection": "SOMETIMES"}, "InvalidRequestException"),
        ({"document": DOC, "targets": []}, "InvalidRequestException"),
        (
            {"document": DOC, "targets": ["arn:aws:iot:eu-west-1:1:thing/b1"]},
            "InvalidRequestException",
        ),
        ({"document": DOC, "targets": [arn.thing_arn("ghost")]}, "ResourceNotFoundException"),
        (
            {"document": DOC, "targets": [arn.thing_group_arn("ghosts")]},
            "ResourceNotFoundException",
        ),
        ({"document": DOC, "job_id": "bad id"}, "InvalidRequestException"),
        (
            {"document": DOC, "job_executions_rollout_config": {"maximumPerMinute": 0}},
            "InvalidRequestException",
        ),
    ],
)
def test_create_job_refusals_create_nothing(cloud: Cloud, kwargs: dict, code: str) -> None:
    request = {"job_id": "x", "targets": [arn.thing_arn("b1")], **kwargs}
    with pytest.raises(CloudError) as caught:
        cloud.create_job(request.pop("job_id"), request.pop("targets"), **request)
    assert caught.value.code == code
    assert cloud.list_jobs() == {"jobs": []}
    assert cloud.list_job_executions_for_thing("b1") == {"executionSummaries": []}


def test_duplicate_job_id(cloud: Cloud) -> None:
    cloud.create_job("dup", [arn.thing_arn("b1")], document=DOC)
    with pytest.raises(CloudError) as caught:
        cloud.create_job("dup", [arn.thing_arn("b2")], document=DOC)
    assert caught.value.code == "ResourceAlreadyExistsException"
    assert _things(cloud, "dup") == {"b1": "QUEUED"}


def test_list_jobs_filters_and_pages(cloud: Cloud) -> None:
    for index in range(3):
        cloud.create_job(f"p{index}", [arn.thing_arn("b1")], document=DOC)
    cloud.create_job(
        "g", [arn.thing_group_arn("kitchen")], document=DOC, target_selection="CONTINUOUS"
    )
    cloud.cancel_job("p1")
    first = cloud.list_jobs(max_results=2)
    assert [j["jobId"] for j in first["jobs"]] == ["p0", "p1"]
    rest = cloud.list_jobs(max_results=2, next_token=first["nextToken"])
    assert [j["jobId"] for j in rest["jobs"]] == ["p2", "g"] and "nextToken" not in rest
    assert [j["jobId"] for j in cloud.list_jobs(status="CANCELED")["jobs"]] == ["p1"]
    assert [j["jobId"] for j in cloud.list_jobs(target_selection="CONTINUOUS")["jobs"]] == ["g"]
    assert [j["jobId"] for j in cloud.list_jobs(thing_group_name="kitchen")["jobs"]] == ["g"]
    with pytest.raises(CloudError):
        cloud.list_jobs(max_results=251)


def test_execution_cancel_and_delete_rules(cloud: Cloud) -> None:
    cloud.create_job("d", [arn.thing_arn("b1"), arn.thing_arn("b2")], document=DOC)
    cloud.update_job_execution("d", "b1", {"status": "IN_PROGRESS"})
    number = cloud.describe_job_execution("d", "b1")["execution"]["executionNumber"]
    for call, code in (
        (lambda: cloud.cancel_job_execution("d", "b1"), "InvalidStateTransitionException"),
        (lambda: cloud.delete_job_execution("d", "b1", number), "InvalidStateTransitionException"),
        (
            lambda: cloud.cancel_job_execution("d", "b2", expected_version=5),
            "VersionConflictException",
        ),
        (lambda: cloud.delete_job("d"), "InvalidStateTransitionException"),
        (lambda: cloud.describe_job_execution("d", "b3"), "ResourceNotFoundException"),
        (lambda: cloud.describe_job("nope"), "ResourceNotFoundException"),
    ):
        with pytest.raises(CloudError) as caught:
            call()
        assert caught.value.code == code
    assert _things(cloud, "d") == {"b1": "IN_PROGRESS", "b2": "QUEUED"}
    cloud.cancel_job_execution("d", "b2", status_details={"why": "recalled"})
    canceled = cloud.describe_job_execution("d", "b2")["execution"]
    assert canceled["status"] == "CANCELED" and canceled["statusDetails"]["detailsMap"] == {
        "why": "recalled"
    }
    cloud.delete_job_execution("d", "b1", number, force=True)
    assert _things(cloud, "d") == {"b2": "CANCELED"}
    assert cloud.describe_job("d")["job"]["status"] == "COMPLETED"  # its last pending one went
    cloud.delete_job("d")
    with pytest.raises(CloudError):
        cloud.describe_job("d")
    assert cloud.list_job_executions_for_thing("b2") == {"executionSummaries": []}


def test_deleted_thing_or_group_leaves_removed_executions(cloud: Cloud) -> None:
    cloud.create_job("snap", [arn.thing_arn("b1"), arn.thing_arn("late")], document=DOC)
    cloud.update_job_execution("snap", "b1", {"status": "SUCCEEDED"})
    cloud.delete_thing("late")
    assert _things(cloud, "snap") == {"b1": "SUCCEEDED", "late": "REMOVED"}
    assert cloud.describe_job("snap")["job"]["status"] == "COMPLETED"
    cloud.create_job(
        "cont", [arn.thing_group_arn("kitchen")], document=DOC, target_selection="CONTINUOUS"
    )
    cloud.delete_thing_group("kitchen")  # its member b3 leaves it
    assert _things(cloud, "cont") == {"b3": "REMOVED"}
