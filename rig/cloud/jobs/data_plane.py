"""The Jobs data plane over HTTPS (iot-jobs-data 2017-09-29: GetPendingJobExecutions,
StartNextPendingJobExecution, DescribeJobExecution, UpdateJobExecution), what `aws iot-jobs-data`
calls, in botocore's shapes. The same store operations as the device MQTT API (device.py), so a
change is announced on `notify` / `notify-next` (and as a Jobs event) exactly as there.

Differences from the MQTT API, from botocore's model: `jobDocument` is a string (JobDocument is
`string`, max 32768), `includeJobDocument` defaults to false on DescribeJobExecution, and no
`timestamp` or `clientToken` is added. Timestamps are whole epoch seconds (botocore: `long`),
as on MQTT (J-12). Errors are the REST exceptions: ResourceNotFoundException,
InvalidRequestException, InvalidStateTransitionException, VersionConflictException and
TerminalStateException (J-3).
"""

from __future__ import annotations

from typing import Any

from rig.cloud.core import operations
from rig.cloud.core.errors import ResourceNotFoundException
from rig.cloud.jobs import engine
from rig.cloud.jobs.engine import Execution, JobsError
from rig.cloud.jobs.notify import execution_data, pending, summary
from rig.cloud.jobs.shapes import check_job_id, rest_error, time_left
from rig.cloud.jobs.store import JobStore
from rig.cloud.registry.names import check_name

NEXT = "$next"  # DescribeJobExecutionJobId: "[a-zA-Z0-9_-]+|^\$next"


class JobsDataPlane:
    """`aws iot-jobs-data` operations on the reference cloud's jobs store."""

    def __init__(self, jobs: JobStore) -> None:
        self.jobs = jobs

    def get_pending_job_executions(self, thing_name: str) -> dict[str, Any]:
        self._known_thing(thing_name)
        executions = pending(self.jobs.store.read(), thing_name)
        return {
            "inProgressJobs": [summary(e) for e in executions if e.status == engine.IN_PROGRESS],
            "queuedJobs": [summary(e) for e in executions if e.status == engine.QUEUED],
        }

    def start_next_pending_job_execution(
        self,
        thing_name: str,
        status_details: dict[str, Any] | None = None,
        step_timeout_in_minutes: int | None = None,
    ) -> dict[str, Any]:
        """{} when nothing is pending (the response has no `execution`)."""
        try:
            details = None if status_details is None else engine.status_details_of(status_details)
            step_timeout = engine.step_timeout_of(step_timeout_in_minutes)
        except JobsError as err:
            raise rest_error(err) from err
        self._known_thing(thing_name)
        started = self.jobs.start_next(thing_name, details, step_timeout)
        return {} if started is None else {"execution": self._execution(started, False)}

    def describe_job_execution(
        self,
        job_id: str,
        thing_name: str,
        include_job_document: bool | None = None,
        execution_number: int | None = None,
    ) -> dict[str, Any]:
        """Any state, CANCELED included (J-13); `$next` is the next pending one (none: {})."""
        self._known_thing(thing_name)
        if job_id == NEXT:
            waiting = pending(self.jobs.store.read(), thing_name)
            if not waiting:
                return {}
            execution = waiting[0]
        else:
            execution = self._one(job_id, thing_name, execution_number)
        return {"execution": self._execution(execution, bool(include_job_document))}

    def update_job_execution(
        self,
        job_id: str,
        thing_name: str,
        status: str,
        status_details: dict[str, Any] | None = None,
        step_timeout_in_minutes: int | None = None,
        expected_version: int | None = None,
        include_job_execution_state: bool | None = None,
        include_job_document: bool | None = None,
        execution_number: int | None = None,
    ) -> dict[str, Any]:
        check_job_id(job_id)
        check_name("thingName", thing_name)
        body = {
            "status": status,
            "statusDetails": status_details,
            "stepTimeoutInMinutes": step_timeout_in_minutes,
            "expectedVersion": expected_version,
            "executionNumber": execution_number,
        }
        try:
            updated = self.jobs.update_job_execution(
                thing_name, job_id, {k: v for k, v in body.items() if v is not None}
            )
        except JobsError as err:
            raise rest_error(err) from err
        reply: dict[str, Any] = {}
        if include_job_execution_state:
            reply["executionState"] = updated.state()
        if include_job_document:
            reply["jobDocument"] = self.jobs.get_job_document(job_id)["document"]
        return reply

    # ---- helpers ------------------------------------------------------------------------

    def _known_thing(self, thing_name: str) -> None:
        check_name("thingName", thing_name)
        db = self.jobs.store.read()
        if not db.execute("SELECT 1 FROM things WHERE name = ?", (thing_name,)).fetchone():
            raise ResourceNotFoundException(f"Thing {thing_name} cannot be found.")

    def _one(self, job_id: str, thing_name: str, number: int | None) -> Execution:
        """The numbered execution, or the latest ("If not specified, the latest job execution
        is returned")."""
        check_job_id(job_id)
        mine = [e for e in self.jobs.executions_of(thing_name) if e.job_id == job_id]
        for execution in sorted(mine, key=lambda e: e.execution_number, reverse=True):
            if number is None or execution.execution_number == number:
                return execution
        raise ResourceNotFoundException(
            f"No job execution of job {job_id} on thing {thing_name}"
            + (f" with executionNumber {number}" if number is not None else "")
        )

    def _execution(self, execution: Execution, include_document: bool) -> dict[str, Any]:
        """iot-jobs-data JobExecution."""
        db = self.jobs.store.read()
        described = execution_data(db, execution, include_document=False) | time_left(execution)
        if include_document:
            described["jobDocument"] = self.jobs.get_job_document(execution.job_id)["document"]
        return described


# the AWS HTTP API's iot-jobs-data operations are this class's methods (rig/cloud/core/operations.py)
operations.facade("iot-jobs-data", lambda cloud: cloud.jobs_data)
