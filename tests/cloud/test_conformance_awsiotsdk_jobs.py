"""Conformance: the official AWS IoT Device SDK v2 jobs client (awscrt + awsiot.iotjobs) against
our broker and jobs service, with mutual TLS: notify-next after create-job, the pending list,
start-next, an update to SUCCEEDED, rejected updates, a group job reaching a member, a job
canceled while queued. Every reply and notification is parsed by the SDK's own types: a payload
it cannot parse (milliseconds for a timestamp, say) reaches its callback as None."""

from __future__ import annotations

import datetime
import json
import queue
from pathlib import Path
from typing import Any

from awscrt import mqtt
from awsiot import iotjobs
from sdk_device import WAIT_S, device_files, sdk_connected

from rig.cloud.core import arn

DOC = {"operation": "ota", "firmware": "1.2.0"}


class _Inbox:
    """One queue per subscription; `next()` fails on a message the SDK could not parse."""

    def __init__(self) -> None:
        self.box: queue.Queue[Any] = queue.Queue()

    def __call__(self, message: Any) -> None:
        self.box.put(message)

    def next(self) -> Any:
        message = self.box.get(timeout=WAIT_S)
        assert message is not None, "the SDK could not parse the payload"
        return message

    def empty(self) -> bool:
        return self.box.empty()


def _recent(when: datetime.datetime | None) -> bool:
    now = datetime.datetime.now()
    return when is not None and now - datetime.timedelta(minutes=1) <= when <= now


def test_device_sdk_jobs_client(cloud, device, tmp_path: Path) -> None:
    thing = "sdk-jobs-1"
    device(thing, connect=False)  # provisions thing, certificate, button policy (jobs topics)
    assert cloud.endpoint is not None
    with sdk_connected(cloud.endpoint, *device_files(tmp_path, thing), thing) as connection:
        _jobs_flow(cloud, iotjobs.IotJobsClient(connection), thing)


def _jobs_flow(runtime: Any, jobs: iotjobs.IotJobsClient, thing: str) -> None:
    api = runtime.cloud
    qos = mqtt.QoS.AT_LEAST_ONCE
    inbox = {
        name: _Inbox()
        for name in (
            "next",
            "changed",
            "pending",
            "pending_err",
            "started",
            "start_err",
            "updated",
            "update_err",
            "described",
        )
    }
    any_job = {"thing_name": thing, "job_id": "+"}
    subscriptions = [
        jobs.subscribe_to_next_job_execution_changed_events(
            iotjobs.NextJobExecutionChangedSubscriptionRequest(thing_name=thing),
            qos,
            inbox["next"],
        ),
        jobs.subscribe_to_job_executions_changed_events(
            iotjobs.JobExecutionsChangedSubscriptionRequest(thing_name=thing),
            qos,
            inbox["changed"],
        ),
        jobs.subscribe_to_get_pending_job_executions_accepted(
            iotjobs.GetPendingJobExecutionsSubscriptionRequest(thing_name=thing),
            qos,
            inbox["pending"],
        ),
        jobs.subscribe_to_get_pending_job_executions_rejected(
            iotjobs.GetPendingJobExecutionsSubscriptionRequest(thing_name=thing),
            qos,
            inbox["pending_err"],
        ),
        jobs.subscribe_to_start_next_pending_job_execution_accepted(
            iotjobs.StartNextPendingJobExecutionSubscriptionRequest(thing_name=thing),
            qos,
            inbox["started"],
        ),
        jobs.subscribe_to_start_next_pending_job_execution_rejected(
            iotjobs.StartNextPendingJobExecutionSubscriptionRequest(thing_name=thing),
            qos,
            inbox["start_err"],
        ),
        jobs.subscribe_to_update_job_execution_accepted(
            iotjobs.UpdateJobExecutionSubscriptionRequest(**any_job), qos, inbox["updated"]
        ),
        jobs.subscribe_to_update_job_execution_rejected(
            iotjobs.UpdateJobExecutionSubscriptionRequest(**any_job), qos, inbox["update_err"]
        ),
        jobs.subscribe_to_describe_job_execution_accepted(
            iotjobs.DescribeJobExecutionSubscriptionRequest(**any_job), qos, inbox["described"]
        ),
    ]
    for future, _topic in subscriptions:
        future.result(WAIT_S)

    # create-job: notify-next names it, notify lists it
    api.create_job("sdk-j1", [arn.thing_arn(thing)], document=json.dumps(DOC))
    nxt = inbox["next"].next()
    assert nxt.execution.job_id == "sdk-j1" and nxt.execution.status == iotjobs.JobStatus.QUEUED
    assert nxt.execution.job_document == DOC and _recent(nxt.execution.queued_at)
    assert _recent(nxt.timestamp)
    changed = inbox["changed"].next()
    assert [s.job_id for s in changed.jobs["QUEUED"]] == ["sdk-j1"]

    # a job for a group the thing is in reaches it; sdk-j1 stays next
    api.create_thing_group("sdk-fleet")
    api.add_thing_to_thing_group(thing_group_name="sdk-fleet", thing_name=thing)
    api.create_job("sdk-g1", [arn.thing_group_arn("sdk-fleet")], document=json.dumps(DOC))
    changed = inbox["changed"].next()
    assert [s.job_id for s in changed.jobs["QUEUED"]] == ["sdk-j1", "sdk-g1"]

    jobs.publish_get_pending_job_executions(
        iotjobs.GetPendingJobExecutionsRequest(thing_name=thing, client_token="p1"), qos
    ).result(WAIT_S)
    pending = inbox["pending"].next()
    assert pending.client_token == "p1" and _recent(pending.timestamp)
    assert [s.job_id for s in pending.queued_jobs] == ["sdk-j1", "sdk-g1"]
    assert pending.in_progress_jobs == [] and pending.queued_jobs[0].version_number == 1

    jobs.publish_start_next_pending_job_execution(
        iotjobs.StartNextPendingJobExecutionRequest(
            thing_name=thing,
            client_token="s1",
            status_details={"step": "download"},
            step_timeout_in_minutes=10,
        ),
        qos,
    ).result(WAIT_S)
    started = inbox["started"].next()
    assert started.client_token == "s1" and started.execution.job_id == "sdk-j1"
    assert started.execution.status == iotjobs.JobStatus.IN_PROGRESS
    assert started.execution.version_number == 2 and _recent(started.execution.started_at)
    assert started.execution.status_details == {"step": "download"}

    jobs.publish_update_job_execution(
        iotjobs.UpdateJobExecutionRequest(
            thing_name=thing,
            job_id="sdk-j1",
            status=iotjobs.JobStatus.SUCCEEDED,
            expected_version=2,
            include_job_execution_state=True,
            client_token="u1",
        ),
        qos,
    ).result(WAIT_S)
    updated = inbox["updated"].next()
    assert updated.client_token == "u1" and _recent(updated.timestamp)
    assert updated.execution_state.status == iotjobs.JobStatus.SUCCEEDED
    assert updated.execution_state.version_number == 3
    assert inbox["next"].next().execution.job_id == "sdk-g1"  # the group job is next now
    assert [s.job_id for s in inbox["changed"].next().jobs["QUEUED"]] == ["sdk-g1"]

    # rejected: a finished execution cannot start again; a stale expectedVersion
    _update(jobs, thing, "sdk-j1", iotjobs.JobStatus.IN_PROGRESS, "r1")
    refused = inbox["update_err"].next()
    assert refused.code == iotjobs.RejectedErrorCode.INVALID_STATE_TRANSITION
    assert refused.client_token == "r1" and refused.execution_state.version_number == 3
    _update(jobs, thing, "sdk-g1", iotjobs.JobStatus.IN_PROGRESS, "r2", expected_version=9)
    stale = inbox["update_err"].next()
    assert stale.code == iotjobs.RejectedErrorCode.VERSION_MISMATCH
    assert stale.execution_state.version_number == 1 and _recent(stale.timestamp)

    # a job canceled while queued: taken off the list, and the device hears why on update
    api.create_job("sdk-c1", [arn.thing_arn(thing)], document=json.dumps(DOC))
    assert [s.job_id for s in inbox["changed"].next().jobs["QUEUED"]] == ["sdk-g1", "sdk-c1"]
    api.cancel_job("sdk-c1")
    assert [s.job_id for s in inbox["changed"].next().jobs["QUEUED"]] == ["sdk-g1"]
    _update(jobs, thing, "sdk-c1", iotjobs.JobStatus.IN_PROGRESS, "r3")
    taken = inbox["update_err"].next()
    assert taken.code == iotjobs.RejectedErrorCode.TERMINAL_STATE_REACHED
    jobs.publish_describe_job_execution(
        iotjobs.DescribeJobExecutionRequest(thing_name=thing, job_id="sdk-c1", client_token="d1"),
        qos,
    ).result(WAIT_S)
    described = inbox["described"].next()
    assert described.client_token == "d1"
    assert described.execution.status == iotjobs.JobStatus.CANCELED
    # neither sdk-c1's arrival nor its cancel changed the next job; nothing else came
    assert inbox["next"].empty() and inbox["changed"].empty()
    assert inbox["pending_err"].empty() and inbox["start_err"].empty()

    # a step timer that runs out: the runtime's timer thread, its clock moved 2 minutes on
    jobs.publish_start_next_pending_job_execution(
        iotjobs.StartNextPendingJobExecutionRequest(thing_name=thing, step_timeout_in_minutes=1),
        qos,
    ).result(WAIT_S)
    assert inbox["started"].next().execution.job_id == "sdk-g1"
    timers = runtime.job_timers
    real_clock = timers.clock
    timers.clock = lambda: real_clock() + 2 * 60_000
    try:
        assert inbox["changed"].next().jobs == {}  # nothing pending any more
        assert inbox["next"].next().execution is None
    finally:
        timers.clock = real_clock
    assert api.describe_job_execution("sdk-g1", thing)["execution"]["status"] == "TIMED_OUT"


def _update(
    jobs: iotjobs.IotJobsClient,
    thing: str,
    job_id: str,
    status: str,
    token: str,
    expected_version: int | None = None,
) -> None:
    jobs.publish_update_job_execution(
        iotjobs.UpdateJobExecutionRequest(
            thing_name=thing,
            job_id=job_id,
            status=status,
            client_token=token,
            expected_version=expected_version,
        ),
        mqtt.QoS.AT_LEAST_ONCE,
    ).result(WAIT_S)
