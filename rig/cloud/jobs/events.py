"""Jobs events (AWS IoT Developer Guide, "Jobs events"), queued in the outbox by the jobs store's
own write transaction, so the running cloud service publishes exactly the committed changes and a
crash loses none (rig/cloud/core/events.py; the registry events work the same way).

* `$aws/events/job/<jobId>/completed | canceled | deleted | cancellation_in_progress |
  deletion_in_progress` (event type JOB): a SNAPSHOT job whose last execution ended, and the
  start and end of cancel-job and delete-job (both in one transaction here: a cancel or a
  deletion completes at once).
* `$aws/events/jobExecution/<jobId>/succeeded | failed | rejected | canceled | timed_out |
  removed | deleted` (event type JOB_EXECUTION): an execution entering that terminal status, or
  deleted (delete-job-execution, and each execution of a deleted job).

Payloads: the fields of the guide's examples today (`eventType` "JOB" / "JOB_EXECUTION",
`status` the operation in capitals, `thingArn`, `statusDetails`), plus what the 2018 guide
printed (`thingName`; `jobProcessDetails` on every job event) and the `accountId` of our other
events. Timestamps are epoch milliseconds, like the registry events and the guide's 13-digit
`createdAt`. docs/cloud-decisions.md "Jobs", J-16.
"""

from __future__ import annotations

import json
import sqlite3

from rig.cloud.core import arn
from rig.cloud.core.events import base_event, enabled, enqueue
from rig.cloud.jobs import engine
from rig.cloud.jobs.engine import Execution


def stored_status(db: sqlite3.Connection, execution: Execution) -> str | None:
    """The status the execution has in the database before this transaction writes it."""
    row = db.execute(
        "SELECT status FROM job_executions WHERE job_id = ? AND thing_name = ?"
        " AND execution_number = ?",
        (execution.job_id, execution.thing_name, execution.execution_number),
    ).fetchone()
    return None if row is None else str(row[0])


def execution_saved(db: sqlite3.Connection, before: str | None, execution: Execution) -> None:
    """An execution was written: an event when it has just entered a terminal status."""
    if execution.status in engine.TERMINAL and execution.status != before:
        execution_event(db, execution.status.lower(), execution)


def execution_event(db: sqlite3.Connection, operation: str, execution: Execution) -> None:
    """operation: a terminal status in lower case, or `deleted`."""
    if not enabled(db, "JOB_EXECUTION"):
        return
    payload = base_event("JOB_EXECUTION", operation) | {
        "jobId": execution.job_id,
        "thingArn": arn.thing_arn(execution.thing_name),
        "thingName": execution.thing_name,
        "status": operation.upper(),
        "statusDetails": dict(execution.status_details),
    }
    enqueue(db, f"$aws/events/jobExecution/{execution.job_id}/{operation}", payload)


def job_event(db: sqlite3.Connection, operation: str, job_id: str) -> None:
    """operation: completed, canceled, deleted, cancellation_in_progress or
    deletion_in_progress; the job as stored now (call `deleted` before its rows go)."""
    if not enabled(db, "JOB"):
        return
    job = db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
    statuses = [
        r["status"]
        for r in db.execute("SELECT status FROM job_executions WHERE job_id = ?", (job_id,))
    ]
    payload = base_event("JOB", operation) | {
        "jobId": job_id,
        "status": operation.upper(),
        "targetSelection": job["target_selection"],
        "targets": json.loads(job["targets"]),
        "createdAt": job["created_ms"],
        "lastUpdatedAt": job["last_updated_ms"],
        "jobProcessDetails": engine.process_details(statuses),
    }
    if job["description"] is not None:
        payload["description"] = job["description"]
    if operation == "completed":
        payload["completedAt"] = job["completed_ms"]
    if job["comment"] is not None:
        payload["comment"] = job["comment"]
    enqueue(db, f"$aws/events/job/{job_id}/{operation}", payload)
