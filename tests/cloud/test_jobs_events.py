"""Jobs events (`$aws/events/job/...`, `$aws/events/jobExecution/...`, the AWS IoT Developer
Guide's "Jobs events") through the cloud's outbox: off until `update-event-configurations`
enables JOB / JOB_EXECUTION, then queued by the very transaction that changes the job or the
execution, so a change rolled back (or refused) announces nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cloud_home import cloud_with_things, crash_after_first_enqueue

from rig.cloud.api import Cloud
from rig.cloud.core import arn
from rig.cloud.core.errors import VersionConflictException
from rig.cloud.jobs import events as job_events
from rig.cloud.jobs.device import DeviceJobs
from rig.cloud.runtime import CloudRuntime
from rig.mqtt.device_client import DeviceClient

DOC = json.dumps({"operation": "update"})
ENABLE_BOTH = {"JOB": {"Enabled": True}, "JOB_EXECUTION": {"Enabled": True}}
WATCHER_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": arn.client_arn("job-watcher")},
        {
            "Effect": "Allow",
            "Action": "iot:Subscribe",
            "Resource": arn.topicfilter_arn("$aws/events/*"),
        },
        {"Effect": "Allow", "Action": "iot:Receive", "Resource": arn.topic_arn("$aws/events/*")},
    ],
}


@pytest.fixture
def cloud(tmp_path: Path):
    with cloud_with_things(tmp_path, ("b1", "b2", "b3")) as cloud:
        yield cloud


def _events(cloud: Cloud) -> list[tuple[str, dict[str, Any]]]:
    """The jobs events queued since the last call (oldest first); the outbox is emptied."""
    with cloud.store.write() as db:
        rows = db.execute("SELECT topic, payload FROM outbox ORDER BY seq").fetchall()
        db.execute("DELETE FROM outbox")
    return [
        (row["topic"], json.loads(row["payload"]))
        for row in rows
        if row["topic"].startswith(("$aws/events/job/", "$aws/events/jobExecution/"))
    ]


def _update(cloud: Cloud, job_id: str, thing: str, status: str, **extra: Any) -> None:
    cloud.update_job_execution(job_id, thing, {"status": status, **extra})


def _exercise(cloud: Cloud) -> None:
    """Every kind of change that has an event when enabled."""
    targets = [arn.thing_arn("b1"), arn.thing_arn("b2"), arn.thing_arn("b3")]
    cloud.create_job("done", targets, document=DOC)
    _update(cloud, "done", "b1", "SUCCEEDED")
    _update(cloud, "done", "b2", "FAILED")
    _update(cloud, "done", "b3", "REJECTED")
    cloud.create_job("stopped", [arn.thing_arn("b1")], document=DOC)
    cloud.cancel_job("stopped")
    cloud.delete_job("done")


def test_jobs_events_are_off_until_enabled(cloud: Cloud) -> None:
    """aws-cli's describe-event-configurations example shows JOB and JOB_EXECUTION disabled, and
    the guide says to enable them; the registry types stay as they were."""
    configured = cloud.describe_event_configurations()["eventConfigurations"]
    assert configured["JOB"] == {"Enabled": False}
    assert configured["JOB_EXECUTION"] == {"Enabled": False}
    assert configured["THING"] == {"Enabled": True}
    _events(cloud)
    _exercise(cloud)
    assert _events(cloud) == []


def test_each_event_type_switches_on_its_own(cloud: Cloud) -> None:
    cloud.update_event_configurations({"JOB_EXECUTION": {"Enabled": True}})
    _events(cloud)
    _exercise(cloud)
    topics = [topic for topic, _ in _events(cloud)]
    assert topics and all(t.startswith("$aws/events/jobExecution/") for t in topics)
    cloud.update_event_configurations(
        {"JOB": {"Enabled": True}, "JOB_EXECUTION": {"Enabled": False}}
    )
    cloud.create_job("again", [arn.thing_arn("b1")], document=DOC)
    _update(cloud, "again", "b1", "SUCCEEDED")
    assert [topic for topic, _ in _events(cloud)] == ["$aws/events/job/again/completed"]


def test_execution_ends_and_the_job_completes(cloud: Cloud) -> None:
    cloud.update_event_configurations(ENABLE_BOTH)
    targets = [arn.thing_arn("b1"), arn.thing_arn("b2")]
    cloud.create_job("ota", targets, document=DOC, description="firmware 1.2")
    _update(cloud, "ota", "b1", "IN_PROGRESS", statusDetails={"step": "download"})
    assert _events(cloud) == []  # neither created nor IN_PROGRESS has an event
    _update(cloud, "ota", "b1", "SUCCESS", statusDetails={"step": "done"})  # the 2018 alias
    ((topic, event),) = _events(cloud)
    assert topic == "$aws/events/jobExecution/ota/succeeded"
    assert {k: event[k] for k in ("eventType", "operation", "jobId", "status")} == {
        "eventType": "JOB_EXECUTION",
        "operation": "succeeded",
        "jobId": "ota",
        "status": "SUCCEEDED",
    }
    assert event["thingArn"] == arn.thing_arn("b1") and event["thingName"] == "b1"
    assert event["statusDetails"] == {"step": "done"}
    assert isinstance(event["eventId"], str) and len(event["eventId"]) == 36
    assert event["timestamp"] > 10**12  # epoch milliseconds, as the registry events

    _update(cloud, "ota", "b2", "FAILED")
    (failed, (done_topic, done)) = _events(cloud)
    assert failed[0] == "$aws/events/jobExecution/ota/failed" and failed[1]["status"] == "FAILED"
    assert done_topic == "$aws/events/job/ota/completed"
    assert {k: done[k] for k in ("eventType", "operation", "jobId", "status")} == {
        "eventType": "JOB",
        "operation": "completed",
        "jobId": "ota",
        "status": "COMPLETED",
    }
    assert done["targets"] == targets and done["targetSelection"] == "SNAPSHOT"
    assert done["description"] == "firmware 1.2"
    assert done["createdAt"] <= done["lastUpdatedAt"] == done["completedAt"]
    details = done["jobProcessDetails"]
    assert details["numberOfSucceededThings"] == 1 and details["numberOfFailedThings"] == 1
    assert details["numberOfInProgressThings"] == 0 and details["numberOfCanceledThings"] == 0


def test_cancel_job_announces_start_each_execution_and_end(cloud: Cloud) -> None:
    cloud.update_event_configurations(ENABLE_BOTH)
    cloud.create_job("c1", [arn.thing_arn("b1"), arn.thing_arn("b2")], document=DOC)
    _update(cloud, "c1", "b2", "IN_PROGRESS")
    _events(cloud)
    cloud.cancel_job("c1", comment="wrong build")
    events = _events(cloud)
    # b2 is IN_PROGRESS and the cancel has no force: it keeps running
    assert [t for t, _ in events] == [
        "$aws/events/job/c1/cancellation_in_progress",
        "$aws/events/jobExecution/c1/canceled",
        "$aws/events/job/c1/canceled",
    ]
    assert events[0][1]["status"] == "CANCELLATION_IN_PROGRESS"
    assert events[1][1]["thingName"] == "b1" and events[1][1]["status"] == "CANCELED"
    assert events[2][1]["status"] == "CANCELED" and events[2][1]["comment"] == "wrong build"
    assert "completedAt" not in events[2][1]


def test_deletions_timeouts_and_removals(cloud: Cloud) -> None:
    cloud.update_event_configurations(ENABLE_BOTH)
    cloud.create_job("d1", [arn.thing_arn("b1"), arn.thing_arn("b2")], document=DOC)
    _update(cloud, "d1", "b1", "REJECTED", statusDetails={"why": "battery"})
    cloud.delete_thing("b2")  # its pending execution is REMOVED
    events = _events(cloud)
    assert [(t, e["status"]) for t, e in events] == [
        ("$aws/events/jobExecution/d1/rejected", "REJECTED"),
        ("$aws/events/jobExecution/d1/removed", "REMOVED"),
        ("$aws/events/job/d1/completed", "COMPLETED"),
    ]
    cloud.delete_job_execution("d1", "b1", 1)
    ((topic, deleted),) = _events(cloud)
    assert topic == "$aws/events/jobExecution/d1/deleted"
    assert deleted["status"] == "DELETED" and deleted["statusDetails"] == {"why": "battery"}
    cloud.delete_job("d1")
    events = _events(cloud)
    assert [(t, e["status"]) for t, e in events] == [
        ("$aws/events/job/d1/deletion_in_progress", "DELETION_IN_PROGRESS"),
        ("$aws/events/jobExecution/d1/deleted", "DELETED"),  # b2's REMOVED execution
        ("$aws/events/job/d1/deleted", "DELETED"),
    ]

    cloud.create_job("t1", [arn.thing_arn("b3")], document=DOC)
    ((_, started),) = DeviceJobs(cloud.job_store).handle(
        "$aws/things/b3/jobs/start-next", b'{"stepTimeoutInMinutes": 1}'
    )
    assert started["execution"]["status"] == "IN_PROGRESS"
    _events(cloud)
    assert cloud.job_store.time_out_expired(now=started["timestamp"] * 1000 + 120_000) == 1
    assert [(t, e["status"]) for t, e in _events(cloud)] == [
        ("$aws/events/jobExecution/t1/timed_out", "TIMED_OUT"),
        ("$aws/events/job/t1/completed", "COMPLETED"),
    ]


def test_a_refused_update_announces_nothing(cloud: Cloud) -> None:
    cloud.update_event_configurations(ENABLE_BOTH)
    cloud.create_job("v1", [arn.thing_arn("b1")], document=DOC)
    _events(cloud)
    with pytest.raises(VersionConflictException):
        _update(cloud, "v1", "b1", "SUCCEEDED", expectedVersion=7)
    assert _events(cloud) == []


def test_an_execution_change_and_its_events_are_one_transaction(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash between the execution's event and the job's must lose the change as well: here
    the second event write fails, and the execution must still be QUEUED."""
    cloud.update_event_configurations(ENABLE_BOTH)
    cloud.create_job("a1", [arn.thing_arn("b1")], document=DOC)
    _events(cloud)
    written = crash_after_first_enqueue(monkeypatch, job_events)
    with pytest.raises(RuntimeError, match="killed"):
        _update(cloud, "a1", "b1", "SUCCEEDED")
    monkeypatch.undo()
    assert written == ["$aws/events/jobExecution/a1/succeeded"]
    assert _events(cloud) == []
    assert cloud.describe_job_execution("a1", "b1")["execution"]["status"] == "QUEUED"
    assert cloud.describe_job("a1")["job"]["status"] == "IN_PROGRESS"


def test_the_running_cloud_publishes_them_on_the_broker(
    cloud_runtime: CloudRuntime, tmp_path: Path
) -> None:
    """A change made through the API (as by the CLI) reaches an MQTT subscriber of the events,
    published by the cloud service from the outbox."""
    api = cloud_runtime.cloud
    created = api.create_keys_and_certificate(True, common_name="job-watcher")
    api.create_policy("JobEventsWatch", json.dumps(WATCHER_POLICY))
    api.attach_policy("JobEventsWatch", created["certificateArn"])
    cert, key = tmp_path / "watcher.crt", tmp_path / "watcher.key"
    cert.write_text(created["certificatePem"])
    key.write_text(created["keyPair"]["PrivateKey"])
    assert cloud_runtime.endpoint is not None
    watcher = DeviceClient(cloud_runtime.endpoint, cert, key, "job-watcher").connect()
    try:
        watcher.subscribe("$aws/events/job/#")
        watcher.subscribe("$aws/events/jobExecution/#")
        api.create_thing("ev-1")
        api.create_job("quiet", [arn.thing_arn("ev-1")], document=DOC)
        _update(api, "quiet", "ev-1", "SUCCEEDED")  # not enabled yet: nothing published
        api.update_event_configurations(ENABLE_BOTH)
        api.create_job("loud", [arn.thing_arn("ev-1")], document=DOC)
        _update(api, "loud", "ev-1", "FAILED")
        received: dict[str, dict[str, Any]] = {}
        while "$aws/events/job/loud/completed" not in received:
            message = watcher.messages.get(timeout=10)
            received[message.topic] = json.loads(message.payload)
        # the quiet job's events, had they been queued, would have come first
        assert list(received) == [
            "$aws/events/jobExecution/loud/failed",
            "$aws/events/job/loud/completed",
        ]
        failed = received["$aws/events/jobExecution/loud/failed"]
        assert failed["status"] == "FAILED" and failed["thingName"] == "ev-1"
    finally:
        watcher.close()
        api.update_event_configurations(
            {"JOB": {"Enabled": False}, "JOB_EXECUTION": {"Enabled": False}}
        )
