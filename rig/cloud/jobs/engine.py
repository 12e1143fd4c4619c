"""The job execution state machine: pure functions of (stored execution, request, now).

No I/O and no clock: the caller passes `now_ms` (epoch milliseconds) and stores what comes back.
Every function returns a new `Execution` or raises `JobsError`; an execution it was given is
never modified, so a rejected request leaves nothing changed.

The states and who may cause each transition follow the AWS IoT Developer Guide, "Jobs and job
execution states" and the API references of UpdateJobExecution (iot-jobs-data), CancelJob,
CancelJobExecution and DeleteJobExecution (iot):

* a device (UpdateJobExecution, StartNextPendingJobExecution) may set only IN_PROGRESS,
  SUCCEEDED, FAILED or REJECTED ("The new status for the job execution (IN_PROGRESS, FAILED,
  SUCCEEDED, or REJECTED)"); `SUCCESS`, the 2018 guide's spelling, is accepted as an input alias
  of SUCCEEDED and never output;
* only the control plane sets CANCELED (CancelJob / CancelJobExecution: a QUEUED execution, an
  IN_PROGRESS one only with `force`), TIMED_OUT (an IN_PROGRESS execution whose timer ran out)
  and REMOVED (its thing is no longer a target);
* the terminal states never change again ("You cannot update the status of a job execution that
  is already in a terminal state", guide "Report Job Execution Status");
* every accepted change increments `versionNumber` by one ("Each time you update the job
  execution, its version is incremented"), and a wrong `expectedVersion` refuses it.

Where the guide is silent the choice is ours and is recorded in docs/cloud-decisions.md ("Jobs").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

QUEUED = "QUEUED"
IN_PROGRESS = "IN_PROGRESS"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
TIMED_OUT = "TIMED_OUT"
REJECTED = "REJECTED"
REMOVED = "REMOVED"
CANCELED = "CANCELED"

STATUSES = (QUEUED, IN_PROGRESS, SUCCEEDED, FAILED, TIMED_OUT, REJECTED, REMOVED, CANCELED)
PENDING = frozenset({QUEUED, IN_PROGRESS})
TERMINAL = frozenset(STATUSES) - PENDING
# what a device may ask for (UpdateJobExecution's `status`), from a pending state
DEVICE_STATUSES = frozenset({IN_PROGRESS, SUCCEEDED, FAILED, REJECTED})
# terminal states only the control plane causes: a device's update then gets
# TerminalStateReached, not InvalidStateTransition (ours: the guide is silent)
ENDED_BY_CONTROL_PLANE = frozenset({CANCELED, REMOVED, TIMED_OUT})
INPUT_ALIASES = {"SUCCESS": SUCCEEDED}  # the 2018 guide's prose and examples

# Every transition an execution can make, and who makes it. The property tests check that no
# sequence of calls produces another.
DEVICE_TRANSITIONS: frozenset[tuple[str, str]] = frozenset(
    (source, target) for source in PENDING for target in DEVICE_STATUSES
)
CONTROL_PLANE_TRANSITIONS: frozenset[tuple[str, str]] = frozenset(
    {
        (QUEUED, CANCELED),
        (IN_PROGRESS, CANCELED),  # with force only
        (IN_PROGRESS, TIMED_OUT),
        (QUEUED, REMOVED),
        (IN_PROGRESS, REMOVED),
    }
)
ALLOWED_TRANSITIONS = DEVICE_TRANSITIONS | CONTROL_PLANE_TRANSITIONS

# Job (not execution) statuses, API reference "Job"; SCHEDULED and DELETION_IN_PROGRESS are
# never produced here (no scheduling; a deletion completes in its own transaction)
JOB_IN_PROGRESS, JOB_CANCELED, JOB_COMPLETED = "IN_PROGRESS", "CANCELED", "COMPLETED"
JOB_STATUSES = (JOB_IN_PROGRESS, JOB_CANCELED, JOB_COMPLETED)
SNAPSHOT, CONTINUOUS = "SNAPSHOT", "CONTINUOUS"

# API reference DetailsKey / DetailsValue; at most 10 pairs (CancelJobExecution `statusDetails`)
DETAILS_KEY = re.compile(r"[a-zA-Z0-9:_-]{1,128}")
MAX_DETAILS_VALUE = 1024
MAX_DETAILS_PAIRS = 10
# StartNextPendingJobExecution / UpdateJobExecution `stepTimeoutInMinutes`: "Valid values for this
# parameter range from 1 to 10080 (1 minute to 7 days). A value of -1 is also valid and will
# cancel the current step timer"
STEP_TIMEOUT_MINUTES = range(1, 10081)
STEP_TIMER_CANCEL = -1
MINUTE_MS = 60_000


class JobsError(Exception):
    """A refused request, with the device API's error code (guide "Jobs Device MQTT and HTTPS
    APIs", ErrorResponse) and, for InvalidStateTransition and VersionMismatch, the execution's
    current state ("This field is included only when the code field has the value
    InvalidStateTransition or VersionMismatch")."""

    def __init__(
        self, code: str, message: str, execution_state: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.execution_state = execution_state

    @classmethod
    def invalid_request(cls, message: str) -> JobsError:
        return cls("InvalidRequest", message)

    @classmethod
    def invalid_transition(cls, execution: Execution, target: str) -> JobsError:
        return cls(
            "InvalidStateTransition",
            f"job execution {execution.job_id} on {execution.thing_name} is {execution.status}:"
            f" it cannot become {target}",
            execution.state(),
        )

    @classmethod
    def version_mismatch(cls, execution: Execution, expected: int) -> JobsError:
        return cls(
            "VersionMismatch",
            f"expectedVersion {expected} does not match the job execution's version"
            f" {execution.version_number}",
            execution.state(),
        )

    @classmethod
    def terminal(cls, execution: Execution) -> JobsError:
        return cls(
            "TerminalStateReached",
            f"job execution {execution.job_id} on {execution.thing_name} was"
            f" {execution.status} by the control plane",
        )


@dataclass(frozen=True)
class Execution:
    """One thing's execution of one job. Timestamps in epoch milliseconds."""

    job_id: str
    thing_name: str
    execution_number: int
    status: str
    version_number: int
    queued_at: int
    last_updated_at: int
    started_at: int | None = None
    status_details: Mapping[str, str] = field(default_factory=dict)
    force_canceled: bool = False
    step_deadline: int | None = None  # an IN_PROGRESS execution's step timer runs out then
    # the job's timeoutConfig (ms) for this execution: it times out that long after startedAt
    in_progress_timeout: int | None = None

    @property
    def pending(self) -> bool:
        return self.status in PENDING

    def state(self) -> dict[str, Any]:
        """The device API's JobExecutionState."""
        return {
            "status": self.status,
            "statusDetails": dict(self.status_details),
            "versionNumber": self.version_number,
        }


@dataclass(frozen=True)
class UpdateRequest:
    """A device's UpdateJobExecution request, checked (`parse_update`)."""

    status: str
    status_details: dict[str, str] | None = None
    expected_version: int | None = None
    execution_number: int | None = None
    step_timeout: int | None = None  # minutes, or -1 (STEP_TIMER_CANCEL)


def queued(job_id: str, thing_name: str, execution_number: int, now_ms: int) -> Execution:
    """A new execution: QUEUED, version 1 (guide "Starting a New Job": `"versionNumber" : 1`)."""
    return Execution(job_id, thing_name, execution_number, QUEUED, 1, now_ms, now_ms)


def status_of(value: Any, allowed: Iterable[str] = STATUSES) -> str:
    """A status as the API spells it; `SUCCESS` is read as SUCCEEDED. InvalidRequest if not."""
    if not isinstance(value, str):
        raise JobsError.invalid_request("status must be a string")
    status = INPUT_ALIASES.get(value, value)
    allowed = tuple(allowed)
    if status not in allowed:
        raise JobsError.invalid_request(f"status {value!r} is not one of {', '.join(allowed)}")
    return status


def status_details_of(value: Any) -> dict[str, str]:
    """A statusDetails map checked against the API's DetailsKey / DetailsValue."""
    if not isinstance(value, dict):
        raise JobsError.invalid_request("statusDetails must be an object of strings")
    if len(value) > MAX_DETAILS_PAIRS:
        raise JobsError.invalid_request(
            f"statusDetails has {len(value)} pairs: at most {MAX_DETAILS_PAIRS}"
        )
    for key, item in value.items():
        if not DETAILS_KEY.fullmatch(key):
            raise JobsError.invalid_request(
                f"statusDetails key {key!r} is invalid: 1-128 characters from [a-zA-Z0-9:_-]"
            )
        if not isinstance(item, str) or not 1 <= len(item) <= MAX_DETAILS_VALUE:
            raise JobsError.invalid_request(
                f"statusDetails value of {key!r} must be a string of 1-{MAX_DETAILS_VALUE}"
                " characters"
            )
        if any(unicodedata.category(char).startswith("C") for char in item):
            raise JobsError.invalid_request(
                f"statusDetails value of {key!r} contains a control character"
            )
    return dict(value)


def version_of(value: Any, name: str = "expectedVersion") -> int:
    """A long; the guide's examples send it as a JSON string (`"expectedVersion": "1"`)."""
    if isinstance(value, bool):
        raise JobsError.invalid_request(f"{name} must be a number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    raise JobsError.invalid_request(f"{name} must be a number")


def step_timeout_of(value: Any) -> int | None:
    """stepTimeoutInMinutes: 1-10080, or -1 to cancel the timer; None when not given."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise JobsError.invalid_request("stepTimeoutInMinutes must be a number")
    if value != STEP_TIMER_CANCEL and value not in STEP_TIMEOUT_MINUTES:
        raise JobsError.invalid_request("stepTimeoutInMinutes must be 1-10080, or -1")
    return value


def parse_update(body: Any) -> UpdateRequest:
    """Check an UpdateJobExecution request body (a decoded JSON object)."""
    if not isinstance(body, dict):
        raise JobsError.invalid_request("the request must be a JSON object")
    if "status" not in body:
        raise JobsError.invalid_request("status must be specified on every update")
    status = status_of(body["status"], DEVICE_STATUSES)
    details = body.get("statusDetails")
    expected = body.get("expectedVersion")
    number = body.get("executionNumber")
    return UpdateRequest(
        status,
        None if details is None else status_details_of(details),
        None if expected is None else version_of(expected),
        None if number is None else version_of(number, "executionNumber"),
        step_timeout_of(body.get("stepTimeoutInMinutes")),
    )


def _check_version(execution: Execution, expected: int | None) -> None:
    if expected is not None and expected != execution.version_number:
        raise JobsError.version_mismatch(execution, expected)


def _changed(
    execution: Execution,
    status: str,
    now_ms: int,
    details: Mapping[str, str] | None,
    **extra: Any,
) -> Execution:
    """The next version: details replaced when given, else unchanged ("If not specified, the
    statusDetails are unchanged"); startedAt set when the execution leaves QUEUED for a
    device's status; the step timer kept only while IN_PROGRESS."""
    started = execution.started_at
    if started is None and execution.status == QUEUED and status in DEVICE_STATUSES:
        started = now_ms
    if status != IN_PROGRESS:
        extra["step_deadline"] = None
    return replace(
        execution,
        status=status,
        version_number=execution.version_number + 1,
        last_updated_at=now_ms,
        started_at=started,
        status_details=execution.status_details if details is None else dict(details),
        **extra,
    )


def device_update(execution: Execution, request: UpdateRequest, now_ms: int) -> Execution:
    """A device's UpdateJobExecution. Checked in this order: the state (a terminal execution
    cannot change), then expectedVersion; the request itself was checked by parse_update."""
    if execution.status in TERMINAL:
        if execution.status in ENDED_BY_CONTROL_PLANE:
            raise JobsError.terminal(execution)
        raise JobsError.invalid_transition(execution, request.status)
    if (
        execution.status,
        request.status,
    ) not in DEVICE_TRANSITIONS:  # an UpdateRequest not from parse_update
        raise JobsError.invalid_transition(execution, request.status)
    _check_version(execution, request.expected_version)
    timer = _step_timer(request.step_timeout, now_ms)
    return _changed(execution, request.status, now_ms, request.status_details, **timer)


def _step_timer(minutes: int | None, now_ms: int) -> dict[str, Any]:
    """The step deadline after a request with `stepTimeoutInMinutes`: set or reset by a value,
    canceled by -1, unchanged when not given (the API reference: the timer is reset "by again
    calling UpdateJobExecution, setting the status to IN_PROGRESS and specifying a new timeout
    value"). `_changed` drops it when the status is not IN_PROGRESS."""
    if minutes is None:
        return {}
    if minutes == STEP_TIMER_CANCEL:
        return {"step_deadline": None}
    return {"step_deadline": now_ms + minutes * MINUTE_MS}


def start(
    execution: Execution,
    status_details: dict[str, str] | None,
    now_ms: int,
    step_timeout: int | None = None,
) -> Execution:
    """StartNextPendingJobExecution on the next pending execution: QUEUED becomes IN_PROGRESS
    with the given details and step timer; an IN_PROGRESS one is returned unchanged ("its
    status details are not changed"; ours: its timer neither)."""
    if execution.status == IN_PROGRESS:
        return execution
    if execution.status != QUEUED:
        raise JobsError.invalid_transition(execution, IN_PROGRESS)
    timer = _step_timer(step_timeout, now_ms)
    return _changed(execution, IN_PROGRESS, now_ms, status_details, **timer)


def deadline(execution: Execution) -> int | None:
    """When an IN_PROGRESS execution times out: the earlier of its step timer and the job's
    in-progress timer (API reference TimeoutConfig: "The in progress timer can't be updated and
    will apply to all job executions for the job"; a step timer does not extend it)."""
    if execution.status != IN_PROGRESS:
        return None
    ends = [] if execution.step_deadline is None else [execution.step_deadline]
    if execution.in_progress_timeout is not None and execution.started_at is not None:
        ends.append(execution.started_at + execution.in_progress_timeout)
    return min(ends, default=None)


def timer_expired(execution: Execution, now_ms: int) -> bool:
    """Whether an IN_PROGRESS execution's step timer or in-progress timer has run out."""
    end = deadline(execution)
    return end is not None and end <= now_ms


def cancelable(execution: Execution, force: bool) -> bool:
    """CancelJob's rule: QUEUED executions are canceled, IN_PROGRESS ones only with force."""
    return execution.status == QUEUED or (force and execution.status == IN_PROGRESS)


def cancel(
    execution: Execution,
    now_ms: int,
    *,
    force: bool = False,
    expected_version: int | None = None,
    status_details: dict[str, str] | None = None,
) -> Execution:
    """CancelJobExecution: "If you attempt to cancel a job execution that is IN_PROGRESS, and
    you do not set force to true, then an InvalidStateTransitionException will be thrown"; a
    terminal one cannot change either."""
    if not cancelable(execution, force):
        raise JobsError.invalid_transition(execution, CANCELED)
    _check_version(execution, expected_version)
    return _changed(
        execution,
        CANCELED,
        now_ms,
        status_details,
        force_canceled=force and execution.status == IN_PROGRESS,
    )


def time_out(execution: Execution, now_ms: int) -> Execution:
    """An IN_PROGRESS execution whose timer ran out (guide "Jobs and job execution states",
    TIMED_OUT)."""
    if execution.status != IN_PROGRESS:
        raise JobsError.invalid_transition(execution, TIMED_OUT)
    return _changed(execution, TIMED_OUT, now_ms, None)


def remove(execution: Execution, now_ms: int) -> Execution:
    """A pending execution whose thing is no longer a target (API reference "Job",
    numberOfRemovedThings: "no longer scheduled to execute the job because they have been
    deleted or have been removed from the group that was a target of the job")."""
    if not execution.pending:
        raise JobsError.invalid_transition(execution, REMOVED)
    return _changed(execution, REMOVED, now_ms, None)


def deletable(execution: Execution, force: bool) -> bool:
    """DeleteJobExecution: a terminal execution, or with force a pending one."""
    return force or execution.status in TERMINAL


# ---- jobs ----------------------------------------------------------------------------------


def job_status_after(
    current: str, target_selection: str, execution_statuses: Iterable[str]
) -> str:
    """A SNAPSHOT job is COMPLETED once every execution is terminal (guide "Continuous Jobs":
    "After those targets complete the job (or report that they are unable to do so), the job
    is complete"); a CONTINUOUS one keeps running; CANCELED and COMPLETED stay."""
    if current != JOB_IN_PROGRESS or target_selection != SNAPSHOT:
        return current
    if all(status in TERMINAL for status in execution_statuses):
        return JOB_COMPLETED
    return current


_COUNTERS = {
    CANCELED: "numberOfCanceledThings",
    SUCCEEDED: "numberOfSucceededThings",
    FAILED: "numberOfFailedThings",
    REJECTED: "numberOfRejectedThings",
    QUEUED: "numberOfQueuedThings",
    IN_PROGRESS: "numberOfInProgressThings",
    REMOVED: "numberOfRemovedThings",
    TIMED_OUT: "numberOfTimedOutThings",
}


def process_details(execution_statuses: Iterable[str]) -> dict[str, int]:
    """The Job's jobProcessDetails counters, one per execution status."""
    counts = dict.fromkeys(_COUNTERS.values(), 0)
    for status in execution_statuses:
        counts[_COUNTERS[status]] += 1
    return counts
