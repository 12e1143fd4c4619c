"""`buttonrig iot` jobs commands as a user runs them: aws-cli option names, botocore response
shapes, and bad input refused with aws-cli's error line and nothing changed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rig.cloud.api import Cloud
from rig.pytest_plugin.cli_runner import buttonrig as run
from rig.pytest_plugin.cli_runner import buttonrig_json as run_json
from rig.pytest_plugin.cli_runner import buttonrig_subprocess

THING_ARN = "arn:aws:iot:us-east-1:123456789012:thing/{}"
GROUP_ARN = "arn:aws:iot:us-east-1:123456789012:thinggroup/{}"
DOC = '{"operation": "ota", "url": "https://rig.local/fw-1.2.bin"}'


@pytest.fixture(scope="module")
def fleet_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Things b1-b3, b2 and b3 in group `fleet`: made once, copied for each test."""
    path = tmp_path_factory.mktemp("jobs-cli") / "home"
    path.mkdir(mode=0o700)
    for thing in ("b1", "b2", "b3"):
        run(path, "iot", "create-thing", "--thing-name", thing)
    run(path, "iot", "create-thing-group", "--thing-group-name", "fleet")
    for thing in ("b2", "b3"):
        run(
            path,
            "iot",
            "add-thing-to-thing-group",
            "--thing-group-name",
            "fleet",
            "--thing-name",
            thing,
        )
    return path


@pytest.fixture
def home(fleet_home: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(fleet_home, tmp_path / "home"))


def _refused(home: Path, code: str, *args: str) -> str:
    result = run(home, *args, ok=False)
    assert result.returncode == 255, result
    assert "Traceback" not in result.stderr
    assert f"An error occurred ({code}) when calling the" in result.stderr, result.stderr
    return result.stderr


def _device_update(home: Path, job_id: str, thing: str, body: dict) -> None:
    """A device's UpdateJobExecution (the device API is not a CLI command yet)."""
    cloud = Cloud(home)
    try:
        cloud.update_job_execution(job_id, thing, body)
    finally:
        cloud.close()


def test_job_lifecycle_shapes(home: Path, tmp_path: Path) -> None:
    document = tmp_path / "job.json"
    document.write_text(DOC)
    result = buttonrig_subprocess(
        home,
        "iot",
        "create-job",
        "--job-id",
        "ota-12",
        "--targets",
        THING_ARN.format("b1"),
        GROUP_ARN.format("fleet"),
        "--document",
        f"file://{document}",
        "--description",
        "firmware 1.2",
        "--job-executions-rollout-config",
        "maximumPerMinute=50",
    )
    assert json.loads(result.stdout) == {
        "jobArn": "arn:aws:iot:us-east-1:123456789012:job/ota-12",
        "jobId": "ota-12",
        "description": "firmware 1.2",
    }
    job = run_json(home, "iot", "describe-job", "--job-id", "ota-12")["job"]
    assert job["status"] == "IN_PROGRESS" and job["targetSelection"] == "SNAPSHOT"
    assert job["targets"] == [THING_ARN.format("b1"), GROUP_ARN.format("fleet")]
    assert job["jobExecutionsRolloutConfig"] == {"maximumPerMinute": 50}
    assert job["jobProcessDetails"]["numberOfQueuedThings"] == 3
    assert isinstance(job["createdAt"], float)
    assert run_json(home, "iot", "get-job-document", "--job-id", "ota-12") == {"document": DOC}
    listed = run_json(home, "iot", "list-jobs", "--status", "IN_PROGRESS")["jobs"]
    assert [j["jobId"] for j in listed] == ["ota-12"]
    assert set(listed[0]) == {
        "jobArn",
        "jobId",
        "targetSelection",
        "status",
        "createdAt",
        "lastUpdatedAt",
    }
    for_job = run_json(home, "iot", "list-job-executions-for-job", "--job-id", "ota-12")
    assert [s["thingArn"] for s in for_job["executionSummaries"]] == [
        THING_ARN.format(t) for t in ("b1", "b2", "b3")
    ]
    _device_update(home, "ota-12", "b2", {"status": "IN_PROGRESS"})
    for_thing = run_json(
        home,
        "iot",
        "list-job-executions-for-thing",
        "--thing-name",
        "b2",
        "--status",
        "IN_PROGRESS",
    )["executionSummaries"]
    assert [(s["jobId"], s["jobExecutionSummary"]["status"]) for s in for_thing] == [
        ("ota-12", "IN_PROGRESS")
    ]
    execution = run_json(
        home, "iot", "describe-job-execution", "--job-id", "ota-12", "--thing-name", "b2"
    )["execution"]
    assert execution["versionNumber"] == 2 and "startedAt" in execution
    assert execution["thingArn"] == THING_ARN.format("b2")


def test_continuous_job_and_cancel_with_force(home: Path) -> None:
    run(
        home,
        "iot",
        "create-job",
        "--job-id",
        "cfg",
        "--targets",
        GROUP_ARN.format("fleet"),
        "--document",
        DOC,
        "--target-selection",
        "CONTINUOUS",
    )
    run(
        home,
        "iot",
        "add-thing-to-thing-group",
        "--thing-group-name",
        "fleet",
        "--thing-name",
        "b1",
    )
    statuses = run_json(home, "iot", "list-job-executions-for-job", "--job-id", "cfg")
    assert len(statuses["executionSummaries"]) == 3
    _device_update(home, "cfg", "b1", {"status": "IN_PROGRESS"})
    run(home, "iot", "cancel-job", "--job-id", "cfg", "--force", "--comment", "recalled")
    by_thing = {
        s["thingArn"].rsplit("/", 1)[1]: s["jobExecutionSummary"]["status"]
        for s in run_json(home, "iot", "list-job-executions-for-job", "--job-id", "cfg")[
            "executionSummaries"
        ]
    }
    assert by_thing == {"b1": "CANCELED", "b2": "CANCELED", "b3": "CANCELED"}
    job = run_json(home, "iot", "describe-job", "--job-id", "cfg")["job"]
    assert (job["status"], job["forceCanceled"], job["comment"]) == ("CANCELED", True, "recalled")


@pytest.mark.parametrize(
    "command",
    [
        ("describe-job",),
        ("get-job-document",),
        ("cancel-job",),
        ("delete-job",),
        ("list-job-executions-for-job",),
        ("describe-job-execution", "--thing-name", "b1"),
        ("cancel-job-execution", "--thing-name", "b1"),
        ("delete-job-execution", "--thing-name", "b1", "--execution-number", "1"),
    ],
)
def test_unknown_job(home: Path, command: tuple[str, ...]) -> None:
    stderr = _refused(home, "ResourceNotFoundException", "iot", *command, "--job-id", "ghost")
    assert "ghost" in stderr


@pytest.mark.parametrize(
    "document",
    ['{"operation": ', "[1, 2]", '"text"', "", json.dumps({"pad": "x" * 32768})],
)
def test_malformed_document_creates_nothing(home: Path, document: str) -> None:
    _refused(
        home,
        "InvalidRequestException",
        "iot",
        "create-job",
        "--job-id",
        "bad",
        "--targets",
        THING_ARN.format("b1"),
        "--document",
        document,
    )
    assert run_json(home, "iot", "list-jobs") == {"jobs": []}
    assert run_json(home, "iot", "list-job-executions-for-thing", "--thing-name", "b1") == {
        "executionSummaries": []
    }


def test_bad_targets_and_options(home: Path) -> None:
    create = ("iot", "create-job", "--job-id", "t", "--document", DOC, "--targets")
    _refused(home, "ResourceNotFoundException", *create, THING_ARN.format("ghost"))
    _refused(home, "InvalidRequestException", *create, "b1")  # a name is not an ARN
    choice = run(home, *create, THING_ARN.format("b1"), "--target-selection", "NOW", ok=False)
    assert choice.returncode == 255 and "must be one of CONTINUOUS, SNAPSHOT" in choice.stderr
    shape = run(
        home, "iot", "create-job", "--cli-input-json", '{"jobId": "t", "targets": "x"}', ok=False
    )
    assert shape.returncode == 255 and "Invalid type for parameter targets" in shape.stderr
    assert run_json(home, "iot", "list-jobs") == {"jobs": []}


def test_cancel_of_a_terminal_job_changes_nothing(home: Path) -> None:
    run(
        home,
        "iot",
        "create-job",
        "--job-id",
        "done",
        "--targets",
        THING_ARN.format("b1"),
        "--document",
        DOC,
    )
    _device_update(home, "done", "b1", {"status": "SUCCEEDED"})
    before = run_json(home, "iot", "describe-job", "--job-id", "done")
    assert before["job"]["status"] == "COMPLETED"
    stderr = _refused(
        home, "InvalidRequestException", "iot", "cancel-job", "--job-id", "done", "--force"
    )
    assert "COMPLETED" in stderr
    assert run_json(home, "iot", "describe-job", "--job-id", "done") == before
    execution = run_json(
        home, "iot", "describe-job-execution", "--job-id", "done", "--thing-name", "b1"
    )["execution"]
    assert execution["status"] == "SUCCEEDED"


def test_in_progress_execution_needs_force_to_cancel_or_delete(home: Path) -> None:
    run(
        home,
        "iot",
        "create-job",
        "--job-id",
        "run",
        "--targets",
        THING_ARN.format("b1"),
        "--document",
        DOC,
    )
    _device_update(
        home, "run", "b1", {"status": "IN_PROGRESS", "statusDetails": {"step": "flash"}}
    )
    describe = ("iot", "describe-job-execution", "--job-id", "run", "--thing-name", "b1")
    before = run_json(home, *describe)
    number = str(before["execution"]["executionNumber"])
    delete = ("iot", "delete-job-execution", "--job-id", "run", "--thing-name", "b1")
    cancel = ("iot", "cancel-job-execution", "--job-id", "run", "--thing-name", "b1")
    stderr = _refused(
        home, "InvalidStateTransitionException", *delete, "--execution-number", number
    )
    assert "IN_PROGRESS" in stderr and "--force" in stderr
    _refused(home, "InvalidStateTransitionException", *cancel)
    _refused(home, "InvalidStateTransitionException", "iot", "delete-job", "--job-id", "run")
    assert run_json(home, *describe) == before  # nothing changed
    _refused(home, "VersionConflictException", *cancel, "--force", "--expected-version", "1")
    run(home, *cancel, "--force", "--expected-version", "2", "--status-details", "reason=operator")
    canceled = run_json(home, *describe)["execution"]
    assert (canceled["status"], canceled["forceCanceled"], canceled["versionNumber"]) == (
        "CANCELED",
        True,
        3,
    )
    assert canceled["statusDetails"] == {"detailsMap": {"reason": "operator"}}
    run(home, *delete, "--execution-number", number)
    _refused(home, "ResourceNotFoundException", *describe)
    run(home, "iot", "delete-job", "--job-id", "run")
    assert run_json(home, "iot", "list-jobs") == {"jobs": []}
