"""`buttonrig iot update-job` (aws-cli option names, botocore UpdateJob, which has no output):
a job IN_PROGRESS takes a new description and rollout configuration, which describe-job then
shows; a terminal job, an unknown job and bad input are refused with nothing changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.cloud.api import Cloud
from rig.pytest_plugin.cli_runner import buttonrig as run
from rig.pytest_plugin.cli_runner import buttonrig_json as run_json

THING_ARN = "arn:aws:iot:us-east-1:123456789012:thing/{}"
DOC = '{"operation": "ota"}'


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir(mode=0o700)
    run(path, "iot", "create-thing", "--thing-name", "b1")
    run(
        path,
        "iot",
        "create-job",
        "--job-id",
        "ota",
        "--targets",
        THING_ARN.format("b1"),
        "--document",
        DOC,
        "--description",
        "first",
    )
    return path


def _refused(home: Path, code: str, *args: str) -> str:
    result = run(home, *args, ok=False)
    assert result.returncode == 255, result
    assert "Traceback" not in result.stderr
    assert f"An error occurred ({code}) when calling the" in result.stderr, result.stderr
    return result.stderr


def _job(home: Path) -> dict:
    return run_json(home, "iot", "describe-job", "--job-id", "ota")["job"]


def test_update_job_changes_a_job_in_progress(home: Path) -> None:
    before = _job(home)
    result = run(
        home,
        "iot",
        "update-job",
        "--job-id",
        "ota",
        "--description",
        "second",
        "--job-executions-rollout-config",
        "maximumPerMinute=7",
    )
    assert result.stdout == ""  # UpdateJob has no output
    after = _job(home)
    assert after["description"] == "second"
    assert after["jobExecutionsRolloutConfig"] == {"maximumPerMinute": 7}
    assert after["lastUpdatedAt"] >= before["lastUpdatedAt"]
    assert after["status"] == "IN_PROGRESS"
    # a member not given stays as it was
    run(home, "iot", "update-job", "--job-id", "ota", "--description", "third")
    assert _job(home)["jobExecutionsRolloutConfig"] == {"maximumPerMinute": 7}


def test_update_job_of_a_terminal_job_is_refused(home: Path) -> None:
    cloud = Cloud(home)
    try:
        cloud.update_job_execution("ota", "b1", {"status": "SUCCEEDED"})
    finally:
        cloud.close()
    before = _job(home)
    assert before["status"] == "COMPLETED"
    stderr = _refused(
        home,
        "InvalidRequestException",
        "iot",
        "update-job",
        "--job-id",
        "ota",
        "--description",
        "x",
    )
    assert "COMPLETED" in stderr
    assert _job(home) == before


def test_update_job_of_a_canceled_job_is_refused(home: Path) -> None:
    run(home, "iot", "cancel-job", "--job-id", "ota")
    before = _job(home)
    _refused(
        home,
        "InvalidRequestException",
        "iot",
        "update-job",
        "--job-id",
        "ota",
        "--description",
        "x",
    )
    assert _job(home) == before


@pytest.mark.parametrize(
    "args",
    [
        ("--job-executions-rollout-config", "maximumPerMinute=0"),
        ("--job-executions-rollout-config", "maximumPerMinute=1001"),
        ("--job-executions-rollout-config", '{"exponentialRate": {}}'),
        ("--description", "a\x01b"),
        ("--description", "d" * 2029),
    ],
)
def test_bad_update_changes_nothing(home: Path, args: tuple[str, ...]) -> None:
    before = _job(home)
    result = run(home, "iot", "update-job", "--job-id", "ota", *args, ok=False)
    assert result.returncode == 255 and "Traceback" not in result.stderr, result
    assert _job(home) == before


def test_update_of_an_unknown_job(home: Path) -> None:
    stderr = _refused(home, "ResourceNotFoundException", "iot", "update-job", "--job-id", "ghost")
    assert "ghost" in stderr
    _refused(home, "InvalidRequestException", "iot", "update-job", "--job-id", "no spaces")
