"""`buttonrig iot-jobs-data …`: the Jobs data plane a device may call over HTTPS instead of MQTT
(aws iot-jobs-data …: get-pending-job-executions, start-next-pending-job-execution,
describe-job-execution, update-job-execution), with aws-cli's option names and botocore's
iot-jobs-data 2017-09-29 shapes (rig/cloud/jobs/data_plane.py). A change made here is announced
on the thing's `notify` / `notify-next` topics as one made over MQTT.
"""

from __future__ import annotations

from typing import Any

from rig.commands.awscli import Operation, Param, add_operations
from rig.commands.shapes import STRING, map_of

THING = Param("--thing-name", required=True)
JOB = Param("--job-id", required=True)
STATUS_DETAILS = Param("--status-details", "structure", shape=map_of(STRING))
STEP_TIMEOUT = Param("--step-timeout-in-minutes", "integer")
EXECUTION_NUMBER = Param("--execution-number", "integer")
INCLUDE_DOCUMENT = Param("--include-job-document", "boolean")

OPERATIONS = [
    Operation(
        "get-pending-job-executions",
        "GetPendingJobExecutions",
        (THING,),
        lambda c, kw: c.jobs_data.get_pending_job_executions(**kw),
    ),
    Operation(
        "start-next-pending-job-execution",
        "StartNextPendingJobExecution",
        (THING, STATUS_DETAILS, STEP_TIMEOUT),
        lambda c, kw: c.jobs_data.start_next_pending_job_execution(**kw),
        help="start the next QUEUED execution (an IN_PROGRESS one is returned as it is)",
    ),
    Operation(
        "describe-job-execution",
        "DescribeJobExecution",
        (JOB, THING, INCLUDE_DOCUMENT, EXECUTION_NUMBER),
        lambda c, kw: c.jobs_data.describe_job_execution(**kw),
        help="--job-id '$next' describes the next pending execution",
    ),
    Operation(
        "update-job-execution",
        "UpdateJobExecution",
        (
            JOB,
            THING,
            # no choices: aws-cli does not check enums, the service answers (SUCCESS is an alias)
            Param("--status", required=True, help="IN_PROGRESS, SUCCEEDED, FAILED or REJECTED"),
            STATUS_DETAILS,
            Param("--expected-version", "integer"),
            Param("--include-job-execution-state", "boolean"),
            INCLUDE_DOCUMENT,
            EXECUTION_NUMBER,
            STEP_TIMEOUT,
        ),
        lambda c, kw: c.jobs_data.update_job_execution(**kw),
    ),
]


def register(subparsers: Any) -> None:
    add_operations(
        subparsers,
        "iot-jobs-data",
        "AWS IoT Jobs data plane (aws iot-jobs-data …): a device's job executions over HTTPS",
        OPERATIONS,
    )
