"""The job's `timeoutConfig.inProgressTimeoutInMinutes` (API reference TimeoutConfig: "Whenever a
job execution remains in the IN_PROGRESS status for longer than this interval, the job execution
will fail and switch to the terminal TIMED_OUT status"; "The in progress timer can't be
updated"). With a step timer too, the earlier one wins. The clock is passed in, so nothing here
waits a minute."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from cloud_home import drain_topics
from job_timer_kit import BASE, MINUTE_MS, ask, one_job_cloud, status

from rig.cloud.api import Cloud
from rig.cloud.core import arn
from rig.cloud.core.errors import InvalidRequestException
from rig.pytest_plugin.cli_runner import buttonrig as run
from rig.pytest_plugin.cli_runner import buttonrig_json as run_json


@pytest.fixture
def cloud(tmp_path: Path):
    with one_job_cloud(tmp_path, timeout_config={"inProgressTimeoutInMinutes": 2}) as cloud:
        yield cloud


def test_an_execution_in_progress_too_long_times_out(cloud: Cloud) -> None:
    assert cloud.describe_job("j1")["job"]["timeoutConfig"] == {"inProgressTimeoutInMinutes": 2}
    cloud.update_event_configurations({"JOB_EXECUTION": {"Enabled": True}})
    started = int(time.time() * 1000)
    ask(cloud, "start-next", {})  # no step timer: only the job's
    drain_topics(cloud)
    described = cloud.describe_job_execution("j1", "t1")["execution"]
    assert 110 <= described["approximateSecondsBeforeTimedOut"] <= 120
    assert cloud.job_store.time_out_expired(started + 2 * MINUTE_MS - 1000) == 0
    assert status(cloud) == "IN_PROGRESS"
    assert cloud.job_store.time_out_expired(started + 2 * MINUTE_MS + 1000) == 1
    assert status(cloud) == "TIMED_OUT"
    assert drain_topics(cloud) == [
        "$aws/events/jobExecution/j1/timed_out",
        f"{BASE}/notify",
        f"{BASE}/notify-next",
    ]


def test_a_longer_step_timer_does_not_extend_it(cloud: Cloud) -> None:
    started = int(time.time() * 1000)
    ask(cloud, "start-next", {"stepTimeoutInMinutes": 5})
    ask(cloud, "j1/update", {"status": "IN_PROGRESS", "stepTimeoutInMinutes": 10})
    described = cloud.describe_job_execution("j1", "t1")["execution"]
    assert described["approximateSecondsBeforeTimedOut"] <= 120  # the earlier: the job's
    assert cloud.job_store.time_out_expired(started + 2 * MINUTE_MS + 1000) == 1
    assert status(cloud) == "TIMED_OUT"


def test_a_shorter_step_timer_wins(cloud: Cloud) -> None:
    started = int(time.time() * 1000)
    ask(cloud, "start-next", {"stepTimeoutInMinutes": 1})
    described = cloud.describe_job_execution("j1", "t1")["execution"]
    assert 50 <= described["approximateSecondsBeforeTimedOut"] <= 60
    assert cloud.job_store.time_out_expired(started + MINUTE_MS + 1000) == 1
    assert status(cloud) == "TIMED_OUT"


def test_a_queued_or_ended_execution_does_not_time_out(cloud: Cloud) -> None:
    later = int(time.time() * 1000) + 100 * MINUTE_MS
    assert cloud.job_store.time_out_expired(later) == 0
    assert status(cloud) == "QUEUED"
    ask(cloud, "j1/update", {"status": "IN_PROGRESS"})
    ask(cloud, "j1/update", {"status": "SUCCEEDED"})
    assert cloud.job_store.time_out_expired(later) == 0
    assert status(cloud) == "SUCCEEDED"


@pytest.mark.parametrize(
    "config",
    [
        {"inProgressTimeoutInMinutes": 0},
        {"inProgressTimeoutInMinutes": 10081},
        {"inProgressTimeoutInMinutes": "5"},
        {"inProgressTimeoutInMinutes": True},
        {"inProgressTimeoutInMinutes": 5, "other": 1},
        {},
    ],
)
def test_bad_timeout_config_is_refused(cloud: Cloud, config: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequestException):
        cloud.create_job("j2", [arn.thing_arn("t1")], document="{}", timeout_config=config)
    with pytest.raises(InvalidRequestException):
        cloud.update_job("j1", timeout_config=config)
    assert cloud.describe_job("j1")["job"]["timeoutConfig"] == {"inProgressTimeoutInMinutes": 2}


def test_timeout_config_on_the_cli(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    run(home, "iot", "create-thing", "--thing-name", "t1")
    create = ("iot", "create-job", "--job-id", "j", "--targets", arn.thing_arn("t1"))
    bad = run(
        home,
        *create,
        "--document",
        "{}",
        "--timeout-config",
        "inProgressTimeoutInMinutes=0",
        ok=False,
    )
    assert bad.returncode == 255 and "InvalidRequestException" in bad.stderr
    run(home, *create, "--document", "{}", "--timeout-config", "inProgressTimeoutInMinutes=7")
    job = run_json(home, "iot", "describe-job", "--job-id", "j")["job"]
    assert job["timeoutConfig"] == {"inProgressTimeoutInMinutes": 7}
    run(
        home,
        "iot",
        "update-job",
        "--job-id",
        "j",
        "--timeout-config",
        "inProgressTimeoutInMinutes=9",
    )
    job = run_json(home, "iot", "describe-job", "--job-id", "j")["job"]
    assert job["timeoutConfig"] == {"inProgressTimeoutInMinutes": 9}


def test_update_job_timeout_applies_to_executions_not_started(cloud: Cloud) -> None:
    """The in-progress timer of a started execution "can't be updated"; one still QUEUED
    starts with the job's new value."""
    cloud.create_thing("t2")
    cloud.create_job(
        "j2",
        [arn.thing_arn("t1"), arn.thing_arn("t2")],
        document="{}",
        timeout_config={"inProgressTimeoutInMinutes": 2},
    )
    started = int(time.time() * 1000)
    cloud.update_job_execution("j2", "t1", {"status": "IN_PROGRESS"})
    cloud.update_job("j2", timeout_config={"inProgressTimeoutInMinutes": 60})
    cloud.update_job_execution("j2", "t2", {"status": "IN_PROGRESS"})
    assert cloud.job_store.time_out_expired(started + 3 * MINUTE_MS) == 1
    statuses = {
        thing: cloud.describe_job_execution("j2", thing)["execution"]["status"]
        for thing in ("t1", "t2")
    }
    assert statuses == {"t1": "TIMED_OUT", "t2": "IN_PROGRESS"}
