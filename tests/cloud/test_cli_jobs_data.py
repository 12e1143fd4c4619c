"""`buttonrig iot-jobs-data` as a device's HTTPS calls: aws-cli's four commands with botocore's
iot-jobs-data shapes, the same notify / notify-next as the MQTT API, and bad input refused with
the REST exception and nothing changed."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from rig.cloud.api import Cloud
from rig.cloud.core import arn
from rig.cloud.jobs.device import DeviceJobs
from rig.pytest_plugin.cli_runner import buttonrig as run
from rig.pytest_plugin.cli_runner import buttonrig_json as run_json

DOC = '{"operation": "ota", "url": "https://rig.local/fw-1.2.bin"}'
DATA = "iot-jobs-data"


def _home(tmp_path: Path, name: str = "home") -> Path:
    home = tmp_path / name
    home.mkdir(mode=0o700)
    cloud = Cloud(home)
    try:
        cloud.create_thing("b1")
        cloud.create_thing("b2")
        cloud.create_job("ota", [arn.thing_arn("b1")], document=DOC)
        cloud.create_job("cfg", [arn.thing_arn("b1")], document='{"operation": "cfg"}')
    finally:
        cloud.close()
    return home


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return _home(tmp_path)


def _update(job: str, status: str, *more: str) -> tuple[str, ...]:
    """`update-job-execution` of b1's execution of `job` to `status` (more options after)."""
    return (
        "update-job-execution",
        "--job-id",
        job,
        "--thing-name",
        "b1",
        "--status",
        status,
        *more,
    )


def _describe(job: str, *more: str) -> tuple[str, ...]:
    """`describe-job-execution` of b1's execution of `job` (more options after)."""
    return ("describe-job-execution", "--job-id", job, "--thing-name", "b1", *more)


def _refused(home: Path, code: str, *args: str) -> str:
    result = run(home, DATA, *args, ok=False)
    assert result.returncode == 255, result
    assert "Traceback" not in result.stderr
    assert f"An error occurred ({code}) when calling the" in result.stderr, result.stderr
    return result.stderr


def _outbox(home: Path) -> list[tuple[str, dict[str, Any]]]:
    """The jobs messages queued since the last call, timestamps dropped; the outbox is emptied."""
    cloud = Cloud(home)
    try:
        with cloud.store.write() as db:
            rows = db.execute("SELECT topic, payload FROM outbox ORDER BY seq").fetchall()
            db.execute("DELETE FROM outbox")
    finally:
        cloud.close()
    return [(row["topic"], _untimed(json.loads(row["payload"]))) for row in rows]


def _untimed(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _untimed(v)
            for k, v in value.items()
            if k not in ("timestamp", "queuedAt", "startedAt", "lastUpdatedAt")
        }
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def test_a_device_runs_its_jobs_over_https(home: Path) -> None:
    now = int(time.time())
    pending = run_json(home, DATA, "get-pending-job-executions", "--thing-name", "b1")
    assert pending["inProgressJobs"] == []
    assert [j["jobId"] for j in pending["queuedJobs"]] == ["ota", "cfg"]
    first = pending["queuedJobs"][0]
    assert set(first) == {"jobId", "queuedAt", "lastUpdatedAt", "versionNumber", "executionNumber"}
    assert isinstance(first["queuedAt"], int) and abs(first["queuedAt"] - now) < 5  # seconds
    assert first["versionNumber"] == 1

    started = run_json(
        home,
        DATA,
        "start-next-pending-job-execution",
        "--thing-name",
        "b1",
        "--status-details",
        "step=download",
        "--step-timeout-in-minutes",
        "5",
    )["execution"]
    assert started["jobId"] == "ota" and started["thingName"] == "b1"
    assert started["status"] == "IN_PROGRESS" and started["statusDetails"] == {"step": "download"}
    assert started["versionNumber"] == 2 and "jobDocument" not in started
    assert 290 <= started["approximateSecondsBeforeTimedOut"] <= 300

    described = run_json(home, DATA, *_describe("ota"))["execution"]
    assert "jobDocument" not in described  # HTTP's includeJobDocument defaults to false
    described = run_json(home, DATA, *_describe("$next", "--include-job-document"))["execution"]
    assert described["jobId"] == "ota" and described["jobDocument"] == DOC  # a string

    updated = run_json(
        home,
        DATA,
        *_update("ota", "SUCCEEDED"),
        "--status-details",
        '{"step": "done"}',
        "--expected-version",
        "2",
        "--include-job-execution-state",
        "--include-job-document",
    )
    assert updated == {
        "executionState": {
            "status": "SUCCEEDED",
            "statusDetails": {"step": "done"},
            "versionNumber": 3,
        },
        "jobDocument": DOC,
    }
    quiet = run(home, DATA, *_update("cfg", "IN_PROGRESS"))
    assert quiet.stdout == ""  # nothing asked to be included: an empty response, nothing printed
    assert run(home, DATA, "start-next-pending-job-execution", "--thing-name", "b2").stdout == ""


def test_https_and_mqtt_announce_the_same_changes(tmp_path: Path) -> None:
    """The same requests over iot-jobs-data and over the device MQTT API queue the same
    notify / notify-next messages."""
    https, mqtt = _home(tmp_path, "https"), _home(tmp_path, "mqtt")
    for home in (https, mqtt):
        _outbox(home)  # what create-job queued
    run(https, DATA, "start-next-pending-job-execution", "--thing-name", "b1")
    run(https, DATA, *_update("ota", "FAILED"))
    cloud = Cloud(mqtt)
    try:
        device = DeviceJobs(cloud.job_store)
        device.handle("$aws/things/b1/jobs/start-next", b"{}")
        device.handle("$aws/things/b1/jobs/ota/update", b'{"status": "FAILED"}')
    finally:
        cloud.close()
    over_https = [m for m in _outbox(https) if m[0].startswith("$aws/things/b1/jobs/notify")]
    over_mqtt = [m for m in _outbox(mqtt) if m[0].startswith("$aws/things/b1/jobs/notify")]
    assert over_https == over_mqtt
    # start-next changed no list membership; FAILED took `ota` off and made `cfg` next
    assert [topic.rsplit("/", 1)[1] for topic, _ in over_https] == ["notify", "notify-next"]
    assert over_https[1][1]["execution"]["jobId"] == "cfg"


def test_bad_requests_are_refused_and_change_nothing(home: Path) -> None:
    def version() -> int:
        return run_json(home, DATA, *_describe("ota"))["execution"]["versionNumber"]

    _refused(
        home, "ResourceNotFoundException", "get-pending-job-executions", "--thing-name", "nope"
    )
    _refused(home, "ResourceNotFoundException", *_describe("nojob"))
    _refused(home, "ResourceNotFoundException", *_update("nojob", "IN_PROGRESS"))
    _refused(home, "ResourceNotFoundException", *_describe("ota", "--execution-number", "99"))
    stderr = _refused(
        home, "VersionConflictException", *_update("ota", "IN_PROGRESS", "--expected-version", "7")
    )
    assert "UpdateJobExecution operation" in stderr
    _refused(home, "InvalidRequestException", *_update("ota", "QUEUED"))
    _refused(
        home,
        "InvalidRequestException",
        "start-next-pending-job-execution",
        "--thing-name",
        "b1",
        "--step-timeout-in-minutes",
        "0",
    )
    assert version() == 1

    run(home, "iot", "cancel-job-execution", "--job-id", "ota", "--thing-name", "b1")
    _refused(home, "TerminalStateException", *_update("ota", "IN_PROGRESS"))
    # a device that ended it itself asked for a wrong transition (J-3)
    run(home, DATA, *_update("cfg", "REJECTED"))
    _refused(home, "InvalidStateTransitionException", *_update("cfg", "IN_PROGRESS"))
    canceled = run_json(home, DATA, *_describe("ota"))["execution"]
    assert canceled["status"] == "CANCELED" and canceled["versionNumber"] == 2

    bad = run(home, DATA, *_update("ota", "SUCCEEDED", "--expected-version", "two"), ok=False)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    missing = run(
        home, DATA, "update-job-execution", "--job-id", "ota", "--thing-name", "b1", ok=False
    )
    assert missing.returncode != 0 and "--status" in missing.stderr
