"""The workshop's IoT Jobs section (spec-1click-workshop.md §5.8) with `buttonrig` in place of
`aws`: the job document copied to the bucket with `s3 cp`, then `create-job --document-source
https://s3.amazonaws.com/$S3_BUCKET/job-document.json --presigned-url-config …` reads it from
the rig's S3 (docs/cloud-decisions.md J-18); a job id cannot be reused; an object that is not
there is refused with nothing created."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rig.cloud.core import arn
from rig.cloud.runtime import temporary_cloud
from rig.pytest_plugin.cli_runner import buttonrig as run
from rig.pytest_plugin.cli_runner import buttonrig_json as run_json

S3_BUCKET = "iot-dm-ws-bucket"
ROLE = "arn:aws:iam::123456789012:role/IoTDMWSProvisioningRole"
JOB_DOCUMENT = {"operation": "sys-info", "sys-info": "uptime", "topic": "sys/info"}
THING_NAME = "job-agent"


@pytest.fixture(scope="module")
def home():
    with temporary_cloud(objects=True) as runtime:
        run(runtime.home, "iot", "create-thing", "--thing-name", THING_NAME)
        run(runtime.home, "s3", "mb", f"s3://{S3_BUCKET}")
        yield runtime.home


def _create_job(home: Path, job_id: str, key: str, ok: bool = True):
    return run(
        home,
        "iot",
        "create-job",
        "--job-id",
        job_id,
        "--targets",
        arn.thing_arn(THING_NAME),
        "--document-source",
        f"https://s3.amazonaws.com/{S3_BUCKET}/{key}",
        "--presigned-url-config",
        json.dumps({"roleArn": ROLE, "expiresInSec": 3600}),
        ok=ok,
    )


def test_workshop_jobs_section_document_from_s3(home: Path, tmp_path: Path) -> None:
    document = tmp_path / "job-document.json"
    document.write_text(json.dumps(JOB_DOCUMENT, indent=4))
    run(home, "s3", "cp", str(document), f"s3://{S3_BUCKET}/")
    assert run(home, "s3", "ls", f"s3://{S3_BUCKET}/").stdout.split()[-1] == "job-document.json"
    created = json.loads(_create_job(home, "468", "job-document.json").stdout)
    assert created["jobId"] == "468"
    assert created["jobArn"] == arn.job_arn("468")
    fetched = run_json(home, "iot", "get-job-document", "--job-id", "468")["document"]
    assert json.loads(fetched) == JOB_DOCUMENT
    described = run_json(home, "iot", "describe-job", "--job-id", "468")
    assert described["documentSource"] == (
        f"https://s3.amazonaws.com/{S3_BUCKET}/job-document.json"
    )
    assert described["job"]["presignedUrlConfig"] == {"roleArn": ROLE, "expiresInSec": 3600}
    # "It is not possible to reuse a job id."
    again = _create_job(home, "468", "job-document.json", ok=False)
    assert "ResourceAlreadyExistsException" in again.stderr


@pytest.mark.parametrize(
    "source",
    [
        f"https://s3.amazonaws.com/{S3_BUCKET}/not-there.json",
        "https://s3.amazonaws.com/no-such-bucket/job-document.json",
        f"https://{S3_BUCKET}.s3.us-east-1.amazonaws.com/not-there.json",
    ],
)
def test_an_s3_object_that_is_not_there_is_refused(home: Path, source: str) -> None:
    refused = run(
        home,
        "iot",
        "create-job",
        "--job-id",
        "missing-document",
        "--targets",
        arn.thing_arn(THING_NAME),
        "--document-source",
        source,
        ok=False,
    )
    assert "InvalidRequestException" in refused.stderr and "NoSuch" in refused.stderr
    assert "Traceback" not in refused.stderr
    missing = run(home, "iot", "describe-job", "--job-id", "missing-document", ok=False)
    assert "ResourceNotFoundException" in missing.stderr


def test_a_bad_presigned_url_config_is_refused(home: Path) -> None:
    refused = run(
        home,
        "iot",
        "create-job",
        "--job-id",
        "bad-presigned",
        "--targets",
        arn.thing_arn(THING_NAME),
        "--document",
        json.dumps(JOB_DOCUMENT),
        "--presigned-url-config",
        json.dumps({"roleArn": ROLE, "expiresInSec": 3601}),
        ok=False,
    )
    assert "InvalidRequestException" in refused.stderr and "expiresInSec" in refused.stderr
