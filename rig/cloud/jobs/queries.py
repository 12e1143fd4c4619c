"""The read side of the jobs store: a job's or an execution's rows, and the Describe / List /
Get operations, which read the database without a write transaction. `JobStore` (store.py)
adds the writes on top of it."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

from rig.cloud.core import arn
from rig.cloud.core.errors import InvalidRequestException, ResourceNotFoundException
from rig.cloud.core.store import Store
from rig.cloud.jobs import engine
from rig.cloud.jobs.config import job_description
from rig.cloud.jobs.engine import Execution, JobsError
from rig.cloud.jobs.shapes import (
    check_job_id,
    check_max_results,
    execution_description,
    execution_of_row,
    execution_summary,
    page,
    rest_error,
    seconds,
    without_none,
)


class JobQueries:
    """Jobs and executions as the API describes and lists them."""

    store: Store

    # ---- rows --------------------------------------------------------------------------

    @staticmethod
    def _job(db: sqlite3.Connection, job_id: str) -> sqlite3.Row:
        row = db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        if row is None:
            raise ResourceNotFoundException(f"Job {job_id} cannot be found.")
        return row

    @staticmethod
    def _executions(db: sqlite3.Connection, where: str, args: tuple[Any, ...]) -> list[Execution]:
        return [
            execution_of_row(row)
            for row in db.execute(
                f"SELECT e.* FROM job_executions e JOIN jobs j USING (job_id) WHERE {where}"
                " ORDER BY j.seq, e.thing_name, e.execution_number",
                args,
            )
        ]

    def describe_job(self, job_id: str) -> dict[str, Any]:
        db = self.store.read()
        job = self._job(db, check_job_id(job_id))
        statuses = [
            r["status"]
            for r in db.execute("SELECT status FROM job_executions WHERE job_id = ?", (job_id,))
        ]
        described = job_description(job, statuses)
        return without_none({"documentSource": job["document_source"], "job": described})

    def get_job_document(self, job_id: str) -> dict[str, Any]:
        return {"document": self._job(self.store.read(), check_job_id(job_id))["document"]}

    def list_jobs(
        self,
        status: str | None = None,
        target_selection: str | None = None,
        thing_group_name: str | None = None,
        max_results: int | None = None,
        next_token: str | None = None,
    ) -> dict[str, Any]:
        if status is not None and status not in engine.JOB_STATUSES:
            raise InvalidRequestException(
                f"status must be one of {', '.join(engine.JOB_STATUSES)}"
            )
        if target_selection not in (None, engine.SNAPSHOT, engine.CONTINUOUS):
            raise InvalidRequestException("targetSelection must be SNAPSHOT or CONTINUOUS")
        check_max_results(max_results)
        db = self.store.read()
        group_arn = arn.thing_group_arn(thing_group_name) if thing_group_name else None
        summaries = []
        for job in db.execute("SELECT * FROM jobs ORDER BY seq"):
            if status is not None and job["status"] != status:
                continue
            if target_selection is not None and job["target_selection"] != target_selection:
                continue
            if group_arn is not None and group_arn not in json.loads(job["targets"]):
                continue
            summaries.append(
                without_none(
                    {
                        "jobArn": arn.job_arn(job["job_id"]),
                        "jobId": job["job_id"],
                        "targetSelection": job["target_selection"],
                        "status": job["status"],
                        "createdAt": seconds(job["created_ms"]),
                        "lastUpdatedAt": seconds(job["last_updated_ms"]),
                        "completedAt": seconds(job["completed_ms"]),
                    }
                )
            )
        return page(summaries, "jobs", max_results, next_token)

    def _one_execution(
        self, db: sqlite3.Connection, job_id: str, thing_name: str, number: int | None
    ) -> Execution:
        """The execution numbered `number`, or the latest ("If not specified, the latest job
        execution is returned")."""
        self._job(db, job_id)
        found = self._executions(db, "e.job_id = ? AND e.thing_name = ?", (job_id, thing_name))
        if number is not None:
            found = [e for e in found if e.execution_number == number]
        if not found:
            raise ResourceNotFoundException(
                f"No job execution of job {job_id} on thing {thing_name}"
                + (f" with executionNumber {number}" if number is not None else "")
            )
        return found[-1]

    def describe_job_execution(
        self, job_id: str, thing_name: str, execution_number: int | None = None
    ) -> dict[str, Any]:
        execution = self._one_execution(
            self.store.read(), check_job_id(job_id), thing_name, execution_number
        )
        return {"execution": execution_description(execution)}

    @staticmethod
    def _status_filter(status: str | None) -> str | None:
        if status is None:
            return None
        try:
            return engine.status_of(status)
        except JobsError as err:
            raise rest_error(err) from err

    def list_job_executions_for_job(
        self,
        job_id: str,
        status: str | None = None,
        max_results: int | None = None,
        next_token: str | None = None,
    ) -> dict[str, Any]:
        wanted = self._status_filter(status)
        check_max_results(max_results)
        db = self.store.read()
        self._job(db, check_job_id(job_id))
        summaries = [
            {"thingArn": arn.thing_arn(e.thing_name), "jobExecutionSummary": execution_summary(e)}
            for e in self._executions(db, "e.job_id = ?", (job_id,))
            if wanted is None or e.status == wanted
        ]
        return page(summaries, "executionSummaries", max_results, next_token)

    def list_job_executions_for_thing(
        self,
        thing_name: str,
        status: str | None = None,
        max_results: int | None = None,
        next_token: str | None = None,
        job_id: str | None = None,
    ) -> dict[str, Any]:
        wanted = self._status_filter(status)
        check_max_results(max_results)
        db = self.store.read()
        if not db.execute("SELECT 1 FROM things WHERE name = ?", (thing_name,)).fetchone():
            raise ResourceNotFoundException(f"Thing {thing_name} cannot be found.")
        summaries = [
            {"jobId": e.job_id, "jobExecutionSummary": execution_summary(e)}
            for e in self._executions(db, "e.thing_name = ?", (thing_name,))
            if (wanted is None or e.status == wanted) and (job_id is None or e.job_id == job_id)
        ]
        return page(summaries, "executionSummaries", max_results, next_token)

    def executions_of(self, thing_name: str) -> Iterator[Execution]:
        """Every execution of a thing, jobs in creation order."""
        yield from self._executions(self.store.read(), "e.thing_name = ?", (thing_name,))
