"""`buttonrig iot …` for provisioning: `register-thing` and the bulk thing registration task
commands of aws-cli, with its option names and botocore's shapes (service model iot/2015-05-28).
Part of `buttonrig iot` (rig/commands/iot.py adds them to its list).

`--input-file-bucket`/`--input-file-key` name an object in the rig's object store
(`buttonrig s3 cp bulk.json s3://bucket/`); `--role-arn` is taken and shown but grants nothing:
the rig has no IAM (docs/cloud-decisions.md PV-7).
"""

from __future__ import annotations

from rig.commands.awscli import Operation, Param
from rig.commands.shapes import STRING, map_of

TASK = Param("--task-id", required=True)
TASK_STATUSES = ("InProgress", "Completed", "Failed", "Cancelled", "Cancelling")

PROVISIONING_OPERATIONS = [
    Operation(
        "register-thing",
        "RegisterThing",
        (
            Param("--template-body", "text", required=True),
            Param(
                "--parameters",
                "structure",
                shape=map_of(STRING),
                help='JSON object of parameter values: \'{"ThingName": "t1", "CSR": "..."}\'',
            ),
        ),
        lambda c, kw: c.register_thing(**kw),
    ),
    Operation(
        "start-thing-registration-task",
        "StartThingRegistrationTask",
        (
            Param("--template-body", "text", required=True),
            Param("--input-file-bucket", required=True),
            Param("--input-file-key", required=True),
            Param("--role-arn", required=True),
        ),
        lambda c, kw: c.start_thing_registration_task(**kw),
    ),
    Operation(
        "describe-thing-registration-task",
        "DescribeThingRegistrationTask",
        (TASK,),
        lambda c, kw: c.describe_thing_registration_task(**kw),
    ),
    Operation(
        "list-thing-registration-tasks",
        "ListThingRegistrationTasks",
        (
            Param("--status", choices=TASK_STATUSES),
            Param("--max-results", "integer"),
            Param("--next-token"),
        ),
        lambda c, kw: c.list_thing_registration_tasks(**kw),
    ),
    Operation(
        "list-thing-registration-task-reports",
        "ListThingRegistrationTaskReports",
        (
            TASK,
            Param("--report-type", required=True, choices=("ERRORS", "RESULTS")),
            Param("--max-results", "integer"),
            Param("--next-token"),
        ),
        lambda c, kw: c.list_thing_registration_task_reports(**kw),
    ),
    Operation(
        "stop-thing-registration-task",
        "StopThingRegistrationTask",
        (TASK,),
        lambda c, kw: c.stop_thing_registration_task(**kw),
    ),
]
