"""`abortConfig.criteriaList` (API reference AbortConfig, AbortCriteria): once at least
minNumberOfExecutedThings have executed and failures of the criterion's type reach
thresholdPercentage of them, the job is canceled (J-22): its QUEUED executions CANCELED, the
things its rollout held back dropped, the cancel events sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cloud_home import cloud_with_things, drain_topics

from rig.cloud.api import Cloud
from rig.cloud.core import arn
from rig.cloud.core.errors import InvalidRequestException
from rig.pytest_plugin.cli_runner import buttonrig as run
from rig.pytest_plugin.cli_runner import buttonrig_json as run_json

THINGS = [f"t{n}" for n in range(6)]


def _criteria(failure: str = "FAILED", threshold: float = 50, minimum: int = 2) -> dict:
    return {
        "criteriaList": [
            {
                "failureType": failure,
                "action": "CANCEL",
                "thresholdPercentage": threshold,
                "minNumberOfExecutedThings": minimum,
            }
        ]
    }


@pytest.fixture
def cloud(tmp_path: Path):
    with cloud_with_things(tmp_path, THINGS) as cloud:
        yield cloud


def _create(cloud: Cloud, abort: dict[str, Any], **kwargs: Any) -> None:
    cloud.create_job(
        "j1",
        [arn.thing_arn(thing) for thing in THINGS],
        document="{}",
        abort_config=abort,
        **kwargs,
    )


def _statuses(cloud: Cloud) -> dict[str, str]:
    summaries = cloud.list_job_executions_for_job("j1")["executionSummaries"]
    return {s["thingArn"].rsplit("/", 1)[1]: s["jobExecutionSummary"]["status"] for s in summaries}


def _job_events(cloud: Cloud) -> list[str]:
    return [topic for topic in drain_topics(cloud) if topic.startswith("$aws/events/job/")]


def test_failures_over_the_threshold_cancel_the_job(cloud: Cloud) -> None:
    _create(cloud, _criteria("FAILED", 50, 2))
    assert cloud.describe_job("j1")["job"]["abortConfig"] == _criteria("FAILED", 50, 2)
    cloud.update_event_configurations({"JOB": {"Enabled": True}})
    cloud.update_job_execution("j1", "t0", {"status": "FAILED"})  # 1 executed: under minimum
    assert cloud.describe_job("j1")["job"]["status"] == "IN_PROGRESS"
    cloud.update_job_execution("j1", "t1", {"status": "IN_PROGRESS"})
    cloud.update_job_execution("j1", "t2", {"status": "SUCCEEDED"})  # 1 of 2 failed: 50 %
    job = cloud.describe_job("j1")["job"]
    assert job["status"] == "CANCELED"
    assert _statuses(cloud) == {
        "t0": "FAILED",
        "t1": "IN_PROGRESS",  # as cancel-job without --force
        "t2": "SUCCEEDED",
        "t3": "CANCELED",
        "t4": "CANCELED",
        "t5": "CANCELED",
    }
    assert _job_events(cloud) == [
        "$aws/events/job/j1/cancellation_in_progress",
        "$aws/events/job/j1/canceled",
    ]


def test_other_failure_types_do_not_count(cloud: Cloud) -> None:
    _create(cloud, _criteria("REJECTED", 50, 2))
    cloud.update_job_execution("j1", "t0", {"status": "FAILED"})
    cloud.update_job_execution("j1", "t1", {"status": "FAILED"})
    assert cloud.describe_job("j1")["job"]["status"] == "IN_PROGRESS"
    cloud.update_job_execution("j1", "t2", {"status": "REJECTED"})
    cloud.update_job_execution("j1", "t3", {"status": "REJECTED"})  # 2 of 4 rejected: 50 %
    assert cloud.describe_job("j1")["job"]["status"] == "CANCELED"


def test_all_counts_every_failure_and_below_threshold_runs_on(cloud: Cloud) -> None:
    _create(cloud, _criteria("ALL", 60, 3))
    cloud.update_job_execution("j1", "t0", {"status": "FAILED"})
    cloud.update_job_execution("j1", "t1", {"status": "REJECTED"})
    cloud.update_job_execution("j1", "t2", {"status": "SUCCEEDED"})  # 2 of 3: 66.7 %
    assert cloud.describe_job("j1")["job"]["status"] == "CANCELED"


def test_under_the_threshold_the_job_completes(cloud: Cloud) -> None:
    _create(cloud, _criteria("FAILED", 50, 2))
    for thing in THINGS[:5]:
        cloud.update_job_execution("j1", thing, {"status": "SUCCEEDED"})
    cloud.update_job_execution("j1", "t5", {"status": "FAILED"})  # 1 of 6
    assert cloud.describe_job("j1")["job"]["status"] == "COMPLETED"


def test_an_abort_drops_the_things_the_rollout_held_back(cloud: Cloud) -> None:
    _create(
        cloud, _criteria("FAILED", 100, 1), job_executions_rollout_config={"maximumPerMinute": 2}
    )
    cloud.update_job_execution("j1", "t0", {"status": "FAILED"})
    assert cloud.describe_job("j1")["job"]["status"] == "CANCELED"
    assert _statuses(cloud) == {"t0": "FAILED", "t1": "CANCELED"}
    assert cloud.job_store.release_rollouts(2**50) == 0


@pytest.mark.parametrize(
    "abort",
    [
        {"criteriaList": []},
        {},
        {"criteriaList": [{"failureType": "FAILED", "action": "CANCEL"}]},
        _criteria("SUCCEEDED"),
        _criteria(threshold=100.5),
        _criteria(threshold=-1),
        _criteria(threshold=10.999),
        _criteria(minimum=0),
        {"criteriaList": [{**_criteria()["criteriaList"][0], "action": "STOP"}]},
        {"criteriaList": [{**_criteria()["criteriaList"][0], "other": 1}]},
    ],
)
def test_bad_abort_config_is_refused(cloud: Cloud, abort: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequestException):
        _create(cloud, abort)
    assert cloud.list_jobs() == {"jobs": []}


def test_abort_config_on_the_cli(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    run(home, "iot", "create-thing", "--thing-name", "t0")
    run(
        home,
        "iot",
        "create-job",
        "--job-id",
        "j",
        "--targets",
        arn.thing_arn("t0"),
        "--document",
        "{}",
    )
    config = _criteria("TIMED_OUT", 10.5, 3)
    run(home, "iot", "update-job", "--job-id", "j", "--abort-config", json.dumps(config))
    job = run_json(home, "iot", "describe-job", "--job-id", "j")["job"]
    assert job["abortConfig"] == config
    bad = run(
        home,
        "iot",
        "update-job",
        "--job-id",
        "j",
        "--abort-config",
        '{"criteriaList": []}',
        ok=False,
    )
    assert bad.returncode == 255 and "Traceback" not in bad.stderr
    assert run_json(home, "iot", "describe-job", "--job-id", "j")["job"]["abortConfig"] == config
