"""`buttonrig iot …` for AWS IoT Jobs: the control-plane commands of aws-cli (create-job,
describe-job, list-jobs, cancel-job, delete-job, get-job-document and the job-execution ones),
with aws-cli's option names and botocore's request and response shapes (service model
iot/2015-05-28). Part of `buttonrig iot` (rig/commands/iot.py adds them to its list).

`update-job` changes a job IN_PROGRESS (J-19); `--timeout-config`, `--job-executions-rollout-config`
and `--abort-config` are enforced (J-20..J-22). `--document-source` takes an Amazon S3 URL
(read from the rig's S3), an `https://` URL on the rig's file server or a `file://` path
(docs/cloud-decisions.md J-18); `--presigned-url-config` is stored and shown. Not taken yet: the
options of configurations the reference cloud does not model (`--scheduling-config`, `--tags`,
`--namespace-id`).
"""

from __future__ import annotations

from rig.commands.awscli import Operation, Param
from rig.commands.shapes import INTEGER, STRING, map_of, structure

EXECUTION_STATUSES = (
    "QUEUED",
    "IN_PROGRESS",
    "SUCCEEDED",
    "FAILED",
    "TIMED_OUT",
    "REJECTED",
    "REMOVED",
    "CANCELED",
)
JOB_STATUSES = ("IN_PROGRESS", "CANCELED", "COMPLETED", "DELETION_IN_PROGRESS", "SCHEDULED")
TARGET_SELECTIONS = ("CONTINUOUS", "SNAPSHOT")

JOB = Param("--job-id", required=True)
THING = Param("--thing-name", required=True)
FORCE = Param("--force", "boolean")
MAX_RESULTS = Param("--max-results", "integer")
NEXT_TOKEN = Param("--next-token")
ROLLOUT = structure(maximumPerMinute=INTEGER)
ABORT = Param(
    "--abort-config",
    "structure",
    help='{"criteriaList": [{"failureType": FAILED|REJECTED|TIMED_OUT|ALL, "action": "CANCEL",'
    ' "thresholdPercentage": P, "minNumberOfExecutedThings": N}]}',
)
TIMEOUT = Param(
    "--timeout-config",
    "structure",
    shape=structure(inProgressTimeoutInMinutes=INTEGER),
    help="inProgressTimeoutInMinutes=1-10080: an execution IN_PROGRESS longer times out",
)

JOBS_OPERATIONS = [
    Operation(
        "create-job",
        "CreateJob",
        (
            JOB,
            Param("--targets", "list", required=True, help="thing or thing group ARNs"),
            Param("--document", "text", help="the job document: JSON, or file://document.json"),
            Param(
                "--document-source",
                help="a URL the document is fetched from now: https://s3.amazonaws.com/<bucket>/"
                "<key> (the rig's S3), https://localhost:<files-port>/… (the rig's file server)"
                " or file://path",
            ),
            Param("--description"),
            Param("--target-selection", choices=TARGET_SELECTIONS),
            Param("--job-executions-rollout-config", "structure", shape=ROLLOUT),
            TIMEOUT,
            ABORT,
            Param(
                "--presigned-url-config",
                "structure",
                shape=structure(roleArn=STRING, expiresInSec=INTEGER),
                help="roleArn=…,expiresInSec=60-3600: stored and shown (J-18)",
            ),
        ),
        lambda c, kw: c.create_job(kw.pop("job_id"), kw.pop("targets"), **kw),
    ),
    Operation(
        "update-job",
        "UpdateJob",
        (
            JOB,
            Param("--description"),
            Param("--job-executions-rollout-config", "structure", shape=ROLLOUT),
            TIMEOUT,
            ABORT,
        ),
        lambda c, kw: c.update_job(kw.pop("job_id"), **kw),
        help="a job IN_PROGRESS: the options given replace its settings",
    ),
    Operation("describe-job", "DescribeJob", (JOB,), lambda c, kw: c.describe_job(**kw)),
    Operation(
        "list-jobs",
        "ListJobs",
        (
            Param("--status", choices=JOB_STATUSES),
            Param("--target-selection", choices=TARGET_SELECTIONS),
            Param("--thing-group-name"),
            MAX_RESULTS,
            NEXT_TOKEN,
        ),
        lambda c, kw: c.list_jobs(**kw),
    ),
    Operation(
        "cancel-job",
        "CancelJob",
        (JOB, Param("--reason-code"), Param("--comment"), FORCE),
        lambda c, kw: c.cancel_job(**kw),
        help="QUEUED executions are canceled; IN_PROGRESS ones too with --force",
    ),
    Operation(
        "delete-job",
        "DeleteJob",
        (JOB, FORCE),
        lambda c, kw: c.delete_job(kw["job_id"], bool(kw.get("force"))),
        help="a COMPLETED or CANCELED job; one IN_PROGRESS only with --force",
    ),
    Operation(
        "get-job-document", "GetJobDocument", (JOB,), lambda c, kw: c.get_job_document(**kw)
    ),
    Operation(
        "describe-job-execution",
        "DescribeJobExecution",
        (JOB, THING, Param("--execution-number", "integer")),
        lambda c, kw: c.describe_job_execution(**kw),
    ),
    Operation(
        "list-job-executions-for-job",
        "ListJobExecutionsForJob",
        (JOB, Param("--status", choices=EXECUTION_STATUSES), MAX_RESULTS, NEXT_TOKEN),
        lambda c, kw: c.list_job_executions_for_job(**kw),
    ),
    Operation(
        "list-job-executions-for-thing",
        "ListJobExecutionsForThing",
        (
            THING,
            Param("--status", choices=EXECUTION_STATUSES),
            Param("--job-id"),
            MAX_RESULTS,
            NEXT_TOKEN,
        ),
        lambda c, kw: c.list_job_executions_for_thing(**kw),
    ),
    Operation(
        "cancel-job-execution",
        "CancelJobExecution",
        (
            JOB,
            THING,
            FORCE,
            Param("--expected-version", "integer"),
            Param("--status-details", "structure", shape=map_of(STRING)),
        ),
        lambda c, kw: c.cancel_job_execution(**kw),
        help="a QUEUED execution; an IN_PROGRESS one only with --force",
    ),
    Operation(
        "delete-job-execution",
        "DeleteJobExecution",
        (JOB, THING, Param("--execution-number", "integer", required=True), FORCE),
        lambda c, kw: c.delete_job_execution(
            kw["job_id"], kw["thing_name"], kw["execution_number"], bool(kw.get("force"))
        ),
        help="a terminal execution; a pending one only with --force",
    ),
]
