"""Jobs and job executions in the cloud's database, around the pure engine (engine.py).

One operation = one write transaction: read the rows, run the engine, write the result, settle
the job's status (a SNAPSHOT job completes when its last execution ends), commit. A refused
request raises before anything is written. Responses have the AWS IoT API shapes (camelCase;
timestamps in epoch seconds, as botocore prints them).

Targets (targets.py): SNAPSHOT resolves them at creation. CONTINUOUS also gives a thing added to a target group later
an execution (guide "Continuous Jobs"): the registry calls `membership_changed` inside its own
transaction (rig/cloud/registry/thing_groups.py, registered by the `Cloud` facade).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from rig.cloud.core import arn
from rig.cloud.core.errors import (
    InvalidRequestException,
    InvalidStateTransitionException,
    LimitExceededException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
)
from rig.cloud.core.store import Store
from rig.cloud.jobs import engine
from rig.cloud.jobs import events as job_events
from rig.cloud.jobs.config import (
    abort_met,
    check_abort,
    check_presigned_url_config,
    check_rollout,
    check_timeout,
    rollout_rate,
    timeout_ms,
)
from rig.cloud.jobs.engine import Execution, JobsError
from rig.cloud.jobs.notify import PendingChanges, pending
from rig.cloud.jobs.queries import JobQueries
from rig.cloud.jobs.shapes import (
    MAX_TARGETS,
    check_job_id,
    check_text,
    now_ms,
    parse_document,
    rest_error,
    without_none,
)
from rig.cloud.jobs.targets import resolve, resolve_existing, targets_group

MAX_ACTIVE_JOBS = 100  # Jobs Limits: active snapshot jobs, and active continuous jobs, each

# Component `jobs` of the cloud database (rig/cloud/core/store.py). `seq` keeps creation order.
JOBS_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE jobs (
        job_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, document TEXT NOT NULL,
        description TEXT, targets TEXT NOT NULL, target_selection TEXT NOT NULL,
        status TEXT NOT NULL, rollout TEXT, comment TEXT, reason_code TEXT,
        force_canceled INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL,
        last_updated_ms INTEGER NOT NULL, completed_ms INTEGER);
    CREATE TABLE job_executions (
        job_id TEXT NOT NULL REFERENCES jobs ON DELETE CASCADE, thing_name TEXT NOT NULL,
        execution_number INTEGER NOT NULL, status TEXT NOT NULL, version INTEGER NOT NULL,
        queued_ms INTEGER NOT NULL, started_ms INTEGER, last_updated_ms INTEGER NOT NULL,
        status_details TEXT NOT NULL DEFAULT '{}', force_canceled INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (job_id, thing_name, execution_number));
    CREATE INDEX job_executions_by_thing ON job_executions (thing_name, status);
    """,
    # stepTimeoutInMinutes (start-next, update): when an IN_PROGRESS execution times out
    "ALTER TABLE job_executions ADD COLUMN step_deadline_ms INTEGER;",
    # CreateJob's documentSource, shown by DescribeJob
    "ALTER TABLE jobs ADD COLUMN document_source TEXT;",
    # timeoutConfig: the job's minutes, copied to each execution (ms) while it is QUEUED
    """
    ALTER TABLE jobs ADD COLUMN in_progress_minutes INTEGER;
    ALTER TABLE job_executions ADD COLUMN in_progress_timeout_ms INTEGER;
    """,
    # jobExecutionsRolloutConfig.maximumPerMinute: the things a job has not reached yet (J-21)
    "CREATE TABLE job_rollout_waiting (job_id TEXT NOT NULL, thing_name TEXT NOT NULL,"
    " PRIMARY KEY (job_id, thing_name));",
    # abortConfig (J-22)
    "ALTER TABLE jobs ADD COLUMN abort TEXT;",
    # presignedUrlConfig (J-18): stored and shown
    "ALTER TABLE jobs ADD COLUMN presigned_url_config TEXT;",
)


class JobStore(JobQueries):
    """Jobs and their executions; the registry tells it about group membership."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.migrate("jobs", JOBS_MIGRATIONS)
        self.changes = PendingChanges()  # notify / notify-next for what a transaction changed

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that queues the notify / notify-next messages of its changes."""
        with self.store.write() as db, self._notifying(db):
            yield db

    @contextmanager
    def _notifying(self, db: sqlite3.Connection) -> Iterator[None]:
        """Flush the pending-list changes on success (also inside the registry's transaction,
        for the observers), forget them on an error (the transaction rolls back)."""
        try:
            yield
        except BaseException:
            self.changes.discard(db)
            raise
        self.changes.flush(db, now_ms())

    def _save(self, db: sqlite3.Connection, execution: Execution) -> None:
        self.changes.watch(db, execution.thing_name)  # its pending list before this change
        before = job_events.stored_status(db, execution)
        db.execute(
            "INSERT INTO job_executions (job_id, thing_name, execution_number, status, version,"
            " queued_ms, started_ms, last_updated_ms, status_details, force_canceled,"
            " step_deadline_ms, in_progress_timeout_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(job_id, thing_name, execution_number) DO UPDATE SET"
            " status = excluded.status, version = excluded.version,"
            " started_ms = excluded.started_ms, last_updated_ms = excluded.last_updated_ms,"
            " status_details = excluded.status_details,"
            " force_canceled = excluded.force_canceled,"
            " step_deadline_ms = excluded.step_deadline_ms,"
            " in_progress_timeout_ms = excluded.in_progress_timeout_ms",
            (
                execution.job_id,
                execution.thing_name,
                execution.execution_number,
                execution.status,
                execution.version_number,
                execution.queued_at,
                execution.started_at,
                execution.last_updated_at,
                json.dumps(dict(execution.status_details)),
                int(execution.force_canceled),
                execution.step_deadline,
                execution.in_progress_timeout,
            ),
        )
        job_events.execution_saved(db, before, execution)

    def _queue(self, db: sqlite3.Connection, job_id: str, thing_name: str, now: int) -> None:
        number = self.store.bump(db, "job_execution_number")  # unique across the account
        queued = engine.queued(job_id, thing_name, number, now)
        timeout = timeout_ms(self._job(db, job_id))
        self._save(db, replace(queued, in_progress_timeout=timeout))

    def _reach(self, db: sqlite3.Connection, job_id: str, things: list[str], now: int) -> None:
        """Give the things executions, at most maximumPerMinute in any minute: the others wait
        in job_rollout_waiting for `release_rollouts` (J-21)."""
        db.executemany(
            "INSERT OR IGNORE INTO job_rollout_waiting (job_id, thing_name) VALUES (?, ?)",
            [(job_id, thing) for thing in things],
        )
        self._release(db, job_id, now)

    def _release(self, db: sqlite3.Connection, job_id: str, now: int) -> int:
        """Queue as many waiting things as the rollout rate leaves room for this minute."""
        rate = rollout_rate(self._job(db, job_id))
        recent = db.execute(
            "SELECT COUNT(*) FROM job_executions WHERE job_id = ? AND queued_ms > ?",
            (job_id, now - engine.MINUTE_MS),
        ).fetchone()[0]
        room = -1 if rate is None else max(0, rate - recent)  # LIMIT -1: no limit
        things = [
            row["thing_name"]
            for row in db.execute(
                "SELECT thing_name FROM job_rollout_waiting WHERE job_id = ? ORDER BY rowid"
                " LIMIT ?",
                (job_id, room),
            )
        ]
        for thing in things:
            db.execute(
                "DELETE FROM job_rollout_waiting WHERE job_id = ? AND thing_name = ?",
                (job_id, thing),
            )
            self._queue(db, job_id, thing, now)
        return len(things)

    def release_rollouts(self, now: int | None = None) -> int:
        """Called each period by the timer thread: every job IN_PROGRESS whose rollout holds
        things back queues those its rate allows now; how many were queued."""
        when = now_ms() if now is None else now
        with self._write() as db:
            jobs = db.execute(
                "SELECT DISTINCT job_id FROM job_rollout_waiting JOIN jobs USING (job_id)"
                " WHERE status = ? ORDER BY seq",
                (engine.JOB_IN_PROGRESS,),
            ).fetchall()
            return sum(self._release(db, job["job_id"], when) for job in jobs)

    def _forget_waiting(self, db: sqlite3.Connection, where: str, args: tuple[Any, ...]) -> None:
        db.execute(f"DELETE FROM job_rollout_waiting WHERE {where}", args)

    def _settle(self, db: sqlite3.Connection, job_id: str, now: int) -> None:
        """The job's status after its executions changed (engine.job_status_after); things
        the rollout has not reached yet count as QUEUED."""
        job = self._job(db, job_id)
        statuses = [
            r["status"]
            for r in db.execute("SELECT status FROM job_executions WHERE job_id = ?", (job_id,))
        ]
        if job["status"] == engine.JOB_IN_PROGRESS and abort_met(job, statuses):
            self._cancel(db, job_id, now)  # action CANCEL (J-22)
            return
        if db.execute("SELECT 1 FROM job_rollout_waiting WHERE job_id = ?", (job_id,)).fetchone():
            statuses.append(engine.QUEUED)
        status = engine.job_status_after(job["status"], job["target_selection"], statuses)
        completed = now if status == engine.JOB_COMPLETED != job["status"] else None
        db.execute(
            "UPDATE jobs SET status = ?, last_updated_ms = ?,"
            " completed_ms = COALESCE(completed_ms, ?) WHERE job_id = ?",
            (status, now, completed, job_id),
        )
        if completed is not None:
            job_events.job_event(db, "completed", job_id)

    def membership_changed(
        self, db: sqlite3.Connection, operation: str, group_name: str, thing_name: str
    ) -> None:
        """The registry's observer (inside its transaction). For each running CONTINUOUS job
        targeting the group: a thing that joins gets a QUEUED execution unless it already has
        one that was not REMOVED; a thing that leaves has its pending executions REMOVED,
        unless the job still targets it by another way (ours: the guide is silent on both)."""
        now = now_ms()
        jobs = db.execute(
            "SELECT job_id, targets FROM jobs WHERE target_selection = ? AND status = ?"
            " ORDER BY seq",
            (engine.CONTINUOUS, engine.JOB_IN_PROGRESS),
        ).fetchall()
        with self._notifying(db):
            for job in jobs:
                targets = json.loads(job["targets"])
                if not targets_group(db, targets, group_name):
                    continue
                mine = self._executions(
                    db, "e.job_id = ? AND e.thing_name = ?", (job["job_id"], thing_name)
                )
                if operation == "ADDED":
                    if all(e.status == engine.REMOVED for e in mine):
                        self._reach(db, job["job_id"], [thing_name], now)
                elif thing_name not in resolve_existing(db, targets):
                    self._forget_waiting(
                        db, "job_id = ? AND thing_name = ?", (job["job_id"], thing_name)
                    )
                    for execution in mine:
                        if execution.pending:
                            self._save(db, engine.remove(execution, now))
                self._settle(db, job["job_id"], now)

    def thing_deleted(self, db: sqlite3.Connection, thing_name: str) -> None:
        """The registry's observer: a deleted thing's pending executions become REMOVED (API
        reference "Job", numberOfRemovedThings: "no longer scheduled to execute the job
        because they have been deleted")."""
        now = now_ms()
        with self._notifying(db):
            self._forget_waiting(db, "thing_name = ?", (thing_name,))
            for execution in self._executions(db, "e.thing_name = ?", (thing_name,)):
                if execution.pending:
                    self._save(db, engine.remove(execution, now))
                    self._settle(db, execution.job_id, now)

    # ---- jobs ----------------------------------------------------------------------------

    def create_job(
        self,
        job_id: str,
        targets: list[str],
        document: str | None = None,
        description: str | None = None,
        target_selection: str | None = None,
        job_executions_rollout_config: dict[str, Any] | None = None,
        document_source: str | None = None,
        timeout_config: dict[str, Any] | None = None,
        abort_config: dict[str, Any] | None = None,
        presigned_url_config: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        check_job_id(job_id)
        if document is None:
            raise InvalidRequestException(
                "a job document must be given (document or documentSource)"
            )
        parse_document(document)
        check_text("description", description)
        selection = target_selection or engine.SNAPSHOT
        if selection not in (engine.SNAPSHOT, engine.CONTINUOUS):
            raise InvalidRequestException("targetSelection must be SNAPSHOT or CONTINUOUS")
        if not isinstance(targets, list) or not 1 <= len(targets) <= MAX_TARGETS:
            raise InvalidRequestException(f"targets must list 1-{MAX_TARGETS} ARNs")
        rollout = check_rollout(job_executions_rollout_config)
        timeout = check_timeout(timeout_config)
        abort = check_abort(abort_config)
        presigned = check_presigned_url_config(presigned_url_config)
        now = now_ms()
        with self._write() as db:
            if db.execute("SELECT 1 FROM jobs WHERE job_id = ?", (job_id,)).fetchone():
                raise ResourceAlreadyExistsException(f"Job {job_id} already exists.")
            active = db.execute(
                "SELECT COUNT(*) FROM jobs WHERE status = ? AND target_selection = ?",
                (engine.JOB_IN_PROGRESS, selection),
            ).fetchone()[0]
            if active >= MAX_ACTIVE_JOBS:
                raise LimitExceededException(
                    f"{active} {selection.lower()} jobs are in progress: at most {MAX_ACTIVE_JOBS}"
                )
            things = resolve(db, targets)
            seq = self.store.bump(db, "job_seq")
            db.execute(
                "INSERT INTO jobs (job_id, seq, document, description, targets, target_selection,"
                " status, rollout, created_ms, last_updated_ms, document_source,"
                " in_progress_minutes, abort, presigned_url_config)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    job_id,
                    seq,
                    document,
                    description,
                    json.dumps(targets),
                    selection,
                    engine.JOB_IN_PROGRESS,
                    None if rollout is None else json.dumps(rollout),
                    now,
                    now,
                    document_source,
                    None if timeout is None else timeout["inProgressTimeoutInMinutes"],
                    None if abort is None else json.dumps(abort),
                    None if presigned is None else json.dumps(presigned),
                ),
            )
            self._reach(db, job_id, things, now)
            self._settle(db, job_id, now)
        return without_none(
            {"jobArn": arn.job_arn(job_id), "jobId": job_id, "description": description}
        )

    def update_job(
        self,
        job_id: str,
        description: str | None = None,
        job_executions_rollout_config: dict[str, Any] | None = None,
        timeout_config: dict[str, Any] | None = None,
        abort_config: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """UpdateJob: the members given replace the stored ones, on a job IN_PROGRESS only
        (J-19: a terminal one is InvalidRequestException, the only request error botocore
        lists). A new timeoutConfig reaches the executions not started yet (J-20)."""
        check_job_id(job_id)
        check_text("description", description)
        rollout = check_rollout(job_executions_rollout_config)
        timeout = check_timeout(timeout_config)
        minutes = None if timeout is None else timeout["inProgressTimeoutInMinutes"]
        abort = check_abort(abort_config)
        with self._write() as db:
            job = self._job(db, job_id)
            if job["status"] != engine.JOB_IN_PROGRESS:
                raise InvalidRequestException(
                    f"Job {job_id} is {job['status']}: only a job in progress can be updated"
                )
            db.execute(
                "UPDATE jobs SET description = COALESCE(?, description),"
                " rollout = COALESCE(?, rollout), in_progress_minutes = COALESCE(?,"
                " in_progress_minutes), abort = COALESCE(?, abort), last_updated_ms = ?"
                " WHERE job_id = ?",
                (
                    description,
                    None if rollout is None else json.dumps(rollout),
                    minutes,
                    None if abort is None else json.dumps(abort),
                    now_ms(),
                    job_id,
                ),
            )
            if minutes is not None:
                db.execute(
                    "UPDATE job_executions SET in_progress_timeout_ms = ?"
                    " WHERE job_id = ? AND status = ?",
                    (minutes * engine.MINUTE_MS, job_id, engine.QUEUED),
                )
        return {}

    def cancel_job(
        self,
        job_id: str,
        force: bool = False,
        comment: str | None = None,
        reason_code: str | None = None,
    ) -> dict[str, Any]:
        """QUEUED executions are canceled, IN_PROGRESS ones too with force (CancelJob)."""
        check_job_id(job_id)
        check_text("comment", comment)
        check_text("reasonCode", reason_code)
        now = now_ms()
        with self._write() as db:
            job = self._job(db, job_id)
            if job["status"] != engine.JOB_IN_PROGRESS:
                raise InvalidRequestException(
                    f"Job {job_id} is {job['status']}: only a job in progress can be canceled"
                )
            self._cancel(db, job_id, now, force, comment, reason_code)
        return without_none(
            {"jobArn": arn.job_arn(job_id), "jobId": job_id, "description": job["description"]}
        )

    def _cancel(
        self,
        db: sqlite3.Connection,
        job_id: str,
        now: int,
        force: bool = False,
        comment: str | None = None,
        reason_code: str | None = None,
    ) -> None:
        """Cancel a job IN_PROGRESS (cancel-job, or its abort criteria met): the waiting things
        dropped, QUEUED executions CANCELED, IN_PROGRESS ones too with force."""
        job_events.job_event(db, "cancellation_in_progress", job_id)
        self._forget_waiting(db, "job_id = ?", (job_id,))
        for execution in self._executions(db, "e.job_id = ?", (job_id,)):
            if engine.cancelable(execution, force):
                self._save(db, engine.cancel(execution, now, force=force))
        db.execute(
            "UPDATE jobs SET status = ?, comment = ?, reason_code = ?, force_canceled = ?,"
            " last_updated_ms = ? WHERE job_id = ?",
            (engine.JOB_CANCELED, comment, reason_code, int(force), now, job_id),
        )
        job_events.job_event(db, "canceled", job_id)

    def delete_job(self, job_id: str, force: bool = False) -> dict[str, Any]:
        """Only a COMPLETED or CANCELED job, or with force one in progress (DeleteJob)."""
        check_job_id(job_id)
        with self._write() as db:
            job = self._job(db, job_id)
            if job["status"] == engine.JOB_IN_PROGRESS and not force:
                raise InvalidStateTransitionException(
                    f"Job {job_id} is IN_PROGRESS: cancel it first, or delete with --force"
                )
            job_events.job_event(db, "deletion_in_progress", job_id)
            self._forget_waiting(db, "job_id = ?", (job_id,))
            for execution in self._executions(db, "e.job_id = ?", (job_id,)):
                self.changes.watch(db, execution.thing_name)
                job_events.execution_event(db, "deleted", execution)
            job_events.job_event(db, "deleted", job_id)  # while its row is there to describe
            db.execute("DELETE FROM job_executions WHERE job_id = ?", (job_id,))
            db.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,))
        return {}

    # ---- executions ----------------------------------------------------------------------

    def cancel_job_execution(
        self,
        job_id: str,
        thing_name: str,
        force: bool = False,
        expected_version: int | None = None,
        status_details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        check_job_id(job_id)
        now = now_ms()
        try:
            details = None if status_details is None else engine.status_details_of(status_details)
            with self._write() as db:
                execution = self._one_execution(db, job_id, thing_name, None)
                self._save(
                    db,
                    engine.cancel(
                        execution,
                        now,
                        force=force,
                        expected_version=expected_version,
                        status_details=details,
                    ),
                )
                self._settle(db, job_id, now)
        except JobsError as err:
            raise rest_error(err) from err
        return {}

    def delete_job_execution(
        self, job_id: str, thing_name: str, execution_number: int, force: bool = False
    ) -> dict[str, Any]:
        check_job_id(job_id)
        with self._write() as db:
            execution = self._one_execution(db, job_id, thing_name, execution_number)
            if not engine.deletable(execution, force):
                raise InvalidStateTransitionException(
                    f"job execution {execution_number} of job {job_id} on {thing_name} is"
                    f" {execution.status}: only a terminal one can be deleted without --force"
                )
            self.changes.watch(db, thing_name)
            job_events.execution_event(db, "deleted", execution)
            db.execute(
                "DELETE FROM job_executions WHERE job_id = ? AND thing_name = ?"
                " AND execution_number = ?",
                (job_id, thing_name, execution_number),
            )
            self._settle(db, job_id, now_ms())
        return {}

    # ---- the device's side (the MQTT API and iot-jobs-data build on it) --------------------

    def update_job_execution(
        self, thing_name: str, job_id: str, body: dict[str, Any], now: int | None = None
    ) -> Execution:
        """A device's UpdateJobExecution: the updated execution, or JobsError (its device API
        code: ResourceNotFound for an execution that does not exist)."""
        request = engine.parse_update(body)
        when = now_ms() if now is None else now
        with self._write() as db:
            try:
                execution = self._one_execution(db, job_id, thing_name, request.execution_number)
            except ResourceNotFoundException as exc:
                raise JobsError("ResourceNotFound", exc.message) from exc
            updated = engine.device_update(execution, request, when)
            self._save(db, updated)
            self._settle(db, job_id, when)
        return updated

    def start_next(
        self,
        thing_name: str,
        status_details: dict[str, str] | None,
        step_timeout: int | None = None,
        now: int | None = None,
    ) -> Execution | None:
        """StartNextPendingJobExecution: the next pending execution after the start (a QUEUED
        one becomes IN_PROGRESS with the details; an IN_PROGRESS one is unchanged), or None when
        nothing is pending."""
        when = now_ms() if now is None else now
        with self._write() as db:
            waiting = pending(db, thing_name)
            if not waiting:
                return None
            started = engine.start(waiting[0], status_details, when, step_timeout)
            if started is not waiting[0]:
                self._save(db, started)
                self._settle(db, started.job_id, when)
        return started

    def time_out_expired(self, now: int | None = None) -> int:
        """Every IN_PROGRESS execution whose step timer (API reference UpdateJobExecution,
        stepTimeoutInMinutes) or in-progress timer (TimeoutConfig) ran out becomes TIMED_OUT;
        how many did."""
        when = now_ms() if now is None else now
        with self._write() as db:
            expired = [
                e
                for e in self._executions(
                    db,
                    "e.status = ? AND (e.step_deadline_ms <= ?"
                    " OR e.started_ms + e.in_progress_timeout_ms <= ?)",
                    (engine.IN_PROGRESS, when, when),
                )
                if engine.timer_expired(e, when)
            ]
            for execution in expired:
                self._save(db, engine.time_out(execution, when))
                self._settle(db, execution.job_id, when)
        return len(expired)
