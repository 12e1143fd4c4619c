"""Bulk thing registration tasks and their report lines (component `provisioning`)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from typing import Any

from rig.cloud.core import events
from rig.cloud.core.errors import (
    InvalidRequestException,
    LimitExceededException,
    ResourceNotFoundException,
)
from rig.cloud.core.store import Store

# botocore's Status enum of a thing registration task (iot/2015-05-28 service model)
IN_PROGRESS, COMPLETED, FAILED, CANCELLED, CANCELLING = (
    "InProgress",
    "Completed",
    "Failed",
    "Cancelled",
    "Cancelling",
)
STATUSES = (IN_PROGRESS, COMPLETED, FAILED, CANCELLED, CANCELLING)
REPORT_TYPES = ("RESULTS", "ERRORS")

PROVISIONING_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS registration_tasks (
        task_id TEXT PRIMARY KEY, template_body TEXT NOT NULL, input_bucket TEXT NOT NULL,
        input_key TEXT NOT NULL, role_arn TEXT NOT NULL, status TEXT NOT NULL,
        message TEXT NOT NULL DEFAULT '', success_count INTEGER NOT NULL DEFAULT 0,
        failure_count INTEGER NOT NULL DEFAULT 0, percentage INTEGER NOT NULL DEFAULT 0,
        created_ms INTEGER NOT NULL, modified_ms INTEGER NOT NULL,
        claimed INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE IF NOT EXISTS registration_report_links (
        task_id TEXT NOT NULL REFERENCES registration_tasks ON DELETE CASCADE,
        report_type TEXT NOT NULL, link TEXT NOT NULL, PRIMARY KEY (task_id, report_type));
    """,
)


class TaskStore:
    """The tasks' rows: created by the API, advanced by the runner (tasks.py)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.migrate("provisioning", PROVISIONING_MIGRATIONS)

    def create(self, template_body: str, bucket: str, key: str, role_arn: str) -> str:
        task_id = str(uuid.uuid4())
        now = events.now_ms()
        with self.store.write() as db:
            # "Only one bulk provisioning operation task can run at a time." (the guide)
            running = db.execute(
                "SELECT task_id FROM registration_tasks WHERE status IN (?, ?)",
                (IN_PROGRESS, CANCELLING),
            ).fetchone()
            if running is not None:
                raise LimitExceededException(
                    f"Thing registration task {running['task_id']} is still running: only one"
                    " bulk provisioning task can run at a time"
                )
            db.execute(
                "INSERT INTO registration_tasks (task_id, template_body, input_bucket, input_key,"
                " role_arn, status, created_ms, modified_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (task_id, template_body, bucket, key, role_arn, IN_PROGRESS, now, now),
            )
        return task_id

    def row(self, db: sqlite3.Connection, task_id: str) -> sqlite3.Row:
        row = db.execute(
            "SELECT * FROM registration_tasks WHERE task_id = ?", (task_id,)
        ).fetchone()
        if row is None:
            raise ResourceNotFoundException(f"Thing registration task {task_id} cannot be found.")
        return row

    def describe(self, task_id: str) -> dict[str, Any]:
        row = self.row(self.store.read(), task_id)
        return {
            "taskId": row["task_id"],
            "creationDate": row["created_ms"] / 1000.0,
            "lastModifiedDate": row["modified_ms"] / 1000.0,
            "templateBody": row["template_body"],
            "inputFileBucket": row["input_bucket"],
            "inputFileKey": row["input_key"],
            "roleArn": row["role_arn"],
            "status": row["status"],
            "message": row["message"],
            "successCount": row["success_count"],
            "failureCount": row["failure_count"],
            "percentageProgress": row["percentage"],
        }

    def task_ids(self, status: str | None = None) -> list[str]:
        if status is not None and status not in STATUSES:
            raise InvalidRequestException(f"status {status!r} is not one of {', '.join(STATUSES)}")
        query = "SELECT task_id FROM registration_tasks"
        arguments: tuple[str, ...] = ()
        if status is not None:
            query, arguments = query + " WHERE status = ?", (status,)
        rows = self.store.read().execute(query + " ORDER BY created_ms DESC, task_id", arguments)
        return [r["task_id"] for r in rows.fetchall()]

    def stop(self, task_id: str) -> None:
        with self.store.write() as db:
            row = self.row(db, task_id)
            if row["status"] != IN_PROGRESS:
                raise InvalidRequestException(
                    f"Thing registration task {task_id} is {row['status']}: only a task"
                    f" {IN_PROGRESS} can be stopped"
                )
            db.execute(
                "UPDATE registration_tasks SET status = ?, modified_ms = ? WHERE task_id = ?",
                (CANCELLING, events.now_ms(), task_id),
            )

    # ---- the runner's side -----------------------------------------------------------------

    def runnable(self) -> list[sqlite3.Row]:
        return (
            self.store.read()
            .execute(
                "SELECT * FROM registration_tasks WHERE status IN (?, ?) ORDER BY created_ms",
                (IN_PROGRESS, CANCELLING),
            )
            .fetchall()
        )

    def claim(self, task_id: str) -> bool:
        """The runner takes an unclaimed task (False: a runner took it before, PV-10)."""
        with self.store.write() as db:
            taken = db.execute(
                "UPDATE registration_tasks SET claimed = 1 WHERE task_id = ? AND claimed = 0",
                (task_id,),
            )
            return taken.rowcount == 1

    def status(self, task_id: str) -> str:
        return str(self.row(self.store.read(), task_id)["status"])

    def progress(self, task_id: str, successes: int, failures: int, percentage: int) -> None:
        with self.store.write() as db:
            db.execute(
                "UPDATE registration_tasks SET success_count = ?, failure_count = ?,"
                " percentage = ?, modified_ms = ? WHERE task_id = ?",
                (successes, failures, percentage, events.now_ms(), task_id),
            )

    def finish(self, task_id: str, status: str, message: str, links: dict[str, str]) -> None:
        with self.store.write() as db:
            db.execute(
                "UPDATE registration_tasks SET status = ?, message = ?, modified_ms = ?"
                " WHERE task_id = ?",
                (status, message, events.now_ms(), task_id),
            )
            for report_type, link in links.items():
                db.execute(
                    "INSERT OR REPLACE INTO registration_report_links (task_id, report_type, link)"
                    " VALUES (?, ?, ?)",
                    (task_id, report_type, link),
                )

    def report_links(self, task_id: str, report_type: str) -> list[str]:
        if report_type not in REPORT_TYPES:
            raise InvalidRequestException(
                f"reportType {report_type!r} is not one of {', '.join(REPORT_TYPES)}"
            )
        db = self.store.read()
        self.row(db, task_id)
        rows = db.execute(
            "SELECT link FROM registration_report_links WHERE task_id = ? AND report_type = ?",
            (task_id, report_type),
        )
        return [r["link"] for r in rows.fetchall()]


def report_line(report: dict[str, Any]) -> str:
    return json.dumps(report, separators=(",", ":"))
