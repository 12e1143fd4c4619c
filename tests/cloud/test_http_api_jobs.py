"""The AWS HTTP API, jobs: create-job on iot, the execution read through iot and through
iot-jobs-data, whose paths collide and which the SigV4 credential scope tells apart (issue #16)."""

from __future__ import annotations

import json

import pytest
from aws_http import client, dummy_env, error_of
from botocore.exceptions import ClientError


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    dummy_env(monkeypatch)


def _job(cloud, thing: str, job_id: str) -> None:
    iot = client(cloud, "iot")
    thing_arn = iot.create_thing(thingName=thing)["thingArn"]
    created = iot.create_job(
        jobId=job_id, targets=[thing_arn], document=json.dumps({"operation": "blink"})
    )
    assert created["jobId"] == job_id
    assert created["jobArn"].endswith(f":job/{job_id}")


def test_colliding_paths_go_to_the_signed_service(cloud) -> None:
    _job(cloud, "http-jobs-1", "http-job-1")
    iot, jobs = client(cloud, "iot"), client(cloud, "iot-jobs-data")
    # GET /things/http-jobs-1/jobs/http-job-1 both times: the credential scope says which
    control = iot.describe_job_execution(jobId="http-job-1", thingName="http-jobs-1")
    device = jobs.describe_job_execution(
        jobId="http-job-1", thingName="http-jobs-1", includeJobDocument=True
    )
    assert control["execution"]["status"] == device["execution"]["status"] == "QUEUED"
    assert control["execution"]["thingArn"].endswith(":thing/http-jobs-1")  # iot's shape
    assert "thingArn" not in device["execution"]
    assert device["execution"]["thingName"] == "http-jobs-1"  # iot-jobs-data's shape
    assert json.loads(device["execution"]["jobDocument"]) == {"operation": "blink"}
    # GET /things/http-jobs-1/jobs: ListJobExecutionsForThing or GetPendingJobExecutions
    listed = iot.list_job_executions_for_thing(thingName="http-jobs-1")
    assert [s["jobId"] for s in listed["executionSummaries"]] == ["http-job-1"]
    pending = jobs.get_pending_job_executions(thingName="http-jobs-1")
    assert [s["jobId"] for s in pending["queuedJobs"]] == ["http-job-1"]


def test_device_side_updates_and_conflicts(cloud) -> None:
    _job(cloud, "http-jobs-2", "http-job-2")
    iot, jobs = client(cloud, "iot"), client(cloud, "iot-jobs-data")
    started = jobs.start_next_pending_job_execution(
        thingName="http-jobs-2", statusDetails={"step": "download"}
    )
    assert started["execution"]["status"] == "IN_PROGRESS"
    version = started["execution"]["versionNumber"]
    with pytest.raises(ClientError) as stale:
        jobs.update_job_execution(
            jobId="http-job-2", thingName="http-jobs-2", status="SUCCEEDED", expectedVersion=99
        )
    assert error_of(stale.value)[:2] == ("VersionConflictException", 409)
    done = jobs.update_job_execution(
        jobId="http-job-2",
        thingName="http-jobs-2",
        status="SUCCEEDED",
        expectedVersion=version,
        includeJobExecutionState=True,
    )
    assert done["executionState"]["status"] == "SUCCEEDED"
    assert (
        iot.describe_job_execution(jobId="http-job-2", thingName="http-jobs-2")["execution"][
            "status"
        ]
        == "SUCCEEDED"
    )
    with pytest.raises(ClientError) as missing:
        jobs.describe_job_execution(jobId="http-no-such-job", thingName="http-jobs-2")
    assert error_of(missing.value)[:2] == ("ResourceNotFoundException", 404)


def test_jobs_list_paginates(cloud) -> None:
    iot = client(cloud, "iot")
    thing_arn = iot.create_thing(thingName="http-jobs-3")["thingArn"]
    for i in range(3):
        iot.create_job(jobId=f"http-page-job-{i}", targets=[thing_arn], document="{}")
    pages = iot.get_paginator("list_job_executions_for_thing").paginate(
        thingName="http-jobs-3", PaginationConfig={"PageSize": 2}
    )
    ids = [s["jobId"] for page in pages for s in page["executionSummaries"]]
    assert sorted(ids) == [f"http-page-job-{i}" for i in range(3)]
