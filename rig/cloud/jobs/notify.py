"""A thing's pending job executions as the device MQTT API shows them, and the `notify` /
`notify-next` messages when they change (guide "Jobs Device MQTT and HTTPS APIs",
JobExecutionsChanged and NextJobExecutionChanged).

Every write transaction of the jobs store notes the pending list of each thing it is about to
change (`PendingChanges.watch`, before the first change) and, before it commits, compares it with
the list after (`flush`): the messages go to the outbox in that same transaction, so a change made
by the CLI in another process is announced too, and a change rolled back announces nothing.

* `notify` when an execution joined or left the thing's pending list (guide: "Sent whenever a job
  execution is added to or removed from the list of pending job executions for a thing"); ours:
  not when one only moved from QUEUED to IN_PROGRESS (the list holds the same executions).
* `notify-next` when the execution DescribeJobExecution `$next` would return is another one
  (guide: "not sent when the next job's execution details change"), with no `execution` when
  nothing is pending any more (ours: the guide is silent on that payload).

Timestamps on this API are epoch seconds (docs/cloud-decisions.md "Jobs", J-12).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from rig.cloud.core.events import enqueue
from rig.cloud.jobs import engine
from rig.cloud.jobs.engine import Execution
from rig.cloud.jobs.shapes import execution_of_row

DeviceJson = dict[str, Any]


def device_seconds(ms: int) -> int:
    """Epoch seconds, as the Device SDKs parse every jobs timestamp (`fromtimestamp`)."""
    return ms // 1000


def pending(db: sqlite3.Connection, thing_name: str) -> list[Execution]:
    """The thing's pending executions in `$next` order: IN_PROGRESS first, then QUEUED, each in
    the order they were created (guide, DescribeJobExecution `$next`)."""
    rows = db.execute(
        "SELECT e.* FROM job_executions e JOIN jobs j USING (job_id)"
        " WHERE e.thing_name = ? AND e.status IN (?, ?)"
        " ORDER BY e.status != ?, j.seq, e.execution_number",
        (thing_name, engine.IN_PROGRESS, engine.QUEUED, engine.IN_PROGRESS),
    )
    return [execution_of_row(row) for row in rows]


def summary(execution: Execution) -> DeviceJson:
    """The device API's JobExecutionSummary."""
    described: DeviceJson = {
        "jobId": execution.job_id,
        "queuedAt": device_seconds(execution.queued_at),
        "lastUpdatedAt": device_seconds(execution.last_updated_at),
        "versionNumber": execution.version_number,
        "executionNumber": execution.execution_number,
    }
    if execution.started_at is not None:
        described["startedAt"] = device_seconds(execution.started_at)
    return described


def job_document(db: sqlite3.Connection, job_id: str) -> Any:
    """The job document as the device API embeds it: a JSON object (J-11)."""
    row = db.execute("SELECT document FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
    return json.loads(row["document"]) if row else None


def execution_data(
    db: sqlite3.Connection, execution: Execution, include_document: bool = True
) -> DeviceJson:
    """The device API's JobExecution (JobExecutionData): statusDetails is a flat map."""
    data: DeviceJson = {
        "jobId": execution.job_id,
        "thingName": execution.thing_name,
        "status": execution.status,
        "statusDetails": dict(execution.status_details),
        **{key: value for key, value in summary(execution).items() if key != "jobId"},
    }
    if include_document:
        data["jobDocument"] = job_document(db, execution.job_id)
    return data


def jobs_topic(thing_name: str, suffix: str) -> str:
    return f"$aws/things/{thing_name}/jobs/{suffix}"


class PendingChanges:
    """The pending lists of the things a transaction changes, as they were before it."""

    def __init__(self) -> None:
        # one entry per connection (the store has one per thread), so threads never share one
        self._before: dict[sqlite3.Connection, dict[str, list[Execution]]] = {}

    def watch(self, db: sqlite3.Connection, thing_name: str) -> None:
        """Call before changing any execution of `thing_name` in this transaction."""
        things = self._before.setdefault(db, {})
        if thing_name not in things:
            things[thing_name] = pending(db, thing_name)

    def discard(self, db: sqlite3.Connection) -> None:
        """The transaction rolled back: nothing changed."""
        self._before.pop(db, None)

    def flush(self, db: sqlite3.Connection, now_ms: int) -> None:
        """Queue notify / notify-next for every watched thing whose list changed."""
        for thing_name, before in self._before.pop(db, {}).items():
            after = pending(db, thing_name)
            if set(_keys(before)) != set(_keys(after)):
                enqueue(db, jobs_topic(thing_name, "notify"), _notify(after, now_ms))
            if _keys(before[:1]) != _keys(after[:1]):
                message: DeviceJson = {"timestamp": device_seconds(now_ms)}
                if after:
                    message["execution"] = execution_data(db, after[0])
                enqueue(db, jobs_topic(thing_name, "notify-next"), message)


def _keys(executions: list[Execution]) -> list[tuple[str, int]]:
    return [(e.job_id, e.execution_number) for e in executions]


def _notify(executions: list[Execution], now_ms: int) -> DeviceJson:
    """JobExecutionsChanged: summaries keyed by status (guide's example `"QUEUED": [...]`),
    `"jobs": {}` when nothing is pending."""
    jobs: dict[str, list[DeviceJson]] = {}
    for execution in executions:
        jobs.setdefault(execution.status, []).append(summary(execution))
    return {"jobs": jobs, "timestamp": device_seconds(now_ms)}
