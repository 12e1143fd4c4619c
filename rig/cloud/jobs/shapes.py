"""The Jobs API's request checks and response shapes (API reference CreateJob, Job,
JobExecution, JobExecutionSummary; limits from the guide's "Jobs Limits"). Timestamps in
responses are epoch seconds, as botocore prints them."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from typing import Any

from rig.cloud.core import arn
from rig.cloud.core.errors import (
    CloudError,
    InvalidRequestException,
    InvalidStateTransitionException,
    ResourceNotFoundException,
    TerminalStateException,
    VersionConflictException,
)
from rig.cloud.jobs.engine import Execution, JobsError, deadline

JOB_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
MAX_DOCUMENT_BYTES = 32768  # Jobs Limits: "The maximum size of a document ... is 32 KB"
MAX_DESCRIPTION = 2028  # Jobs Limits: description and comment
MAX_TARGETS = 100  # Jobs Limits: "The number of targets a job can have"
MAX_RESULTS = 250  # Jobs Limits: "The maximum list result per page is 250"

# engine error code -> the control plane's exception (API reference, each operation's errors)
_REST_ERRORS: dict[str, type[CloudError]] = {
    "InvalidRequest": InvalidRequestException,
    "InvalidStateTransition": InvalidStateTransitionException,
    "VersionMismatch": VersionConflictException,
    "TerminalStateReached": TerminalStateException,
    "ResourceNotFound": ResourceNotFoundException,
}


def rest_error(err: JobsError) -> CloudError:
    return _REST_ERRORS.get(err.code, InvalidRequestException)(err.message)


def now_ms() -> int:
    return int(time.time() * 1000)


def seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000.0


def without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def check_job_id(job_id: object) -> str:
    if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
        raise InvalidRequestException(
            f"jobId {job_id!r} is invalid: 1-64 characters from [a-zA-Z0-9_-]"
        )
    return job_id


def parse_document(document: object) -> str:
    """The job document as stored: a JSON object of at most 32 KB (ours: an object, the form
    the device API embeds as `jobDocument`)."""
    if not isinstance(document, str):
        raise InvalidRequestException("document must be a JSON object given as a string")
    if len(document.encode()) > MAX_DOCUMENT_BYTES:
        raise InvalidRequestException(
            f"document is {len(document.encode())} bytes: at most {MAX_DOCUMENT_BYTES}"
        )
    try:
        parsed = json.loads(document)
    except (ValueError, RecursionError) as exc:
        raise InvalidRequestException(f"document is not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise InvalidRequestException("document must be a JSON object")
    return document


def check_text(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION:
        raise InvalidRequestException(f"{name} must be a string of at most {MAX_DESCRIPTION}")
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise InvalidRequestException(f"{name} contains a control character")
    return value


def check_max_results(max_results: int | None) -> None:
    if max_results is not None and not 1 <= max_results <= MAX_RESULTS:
        raise InvalidRequestException(f"maxResults must be 1-{MAX_RESULTS}")


def page(
    items: list[dict[str, Any]], key: str, max_results: int | None, token: str | None
) -> dict[str, Any]:
    check_max_results(max_results)
    start = 0
    if token:
        if not token.isascii() or not token.isdigit():
            raise InvalidRequestException(f"invalid nextToken {token!r}")
        start = int(token)
    end = len(items) if max_results is None else start + max_results
    result: dict[str, Any] = {key: items[start:end]}
    if end < len(items):
        result["nextToken"] = str(end)
    return result


def execution_of_row(row: sqlite3.Row) -> Execution:
    return Execution(
        job_id=row["job_id"],
        thing_name=row["thing_name"],
        execution_number=row["execution_number"],
        status=row["status"],
        version_number=row["version"],
        queued_at=row["queued_ms"],
        last_updated_at=row["last_updated_ms"],
        started_at=row["started_ms"],
        status_details=json.loads(row["status_details"]),
        force_canceled=bool(row["force_canceled"]),
        step_deadline=row["step_deadline_ms"],
        in_progress_timeout=row["in_progress_timeout_ms"],
    )


def execution_summary(execution: Execution) -> dict[str, Any]:
    """JobExecutionSummary (management API)."""
    return without_none(
        {
            "status": execution.status,
            "queuedAt": seconds(execution.queued_at),
            "startedAt": seconds(execution.started_at),
            "lastUpdatedAt": seconds(execution.last_updated_at),
            "executionNumber": execution.execution_number,
        }
    )


def execution_description(execution: Execution) -> dict[str, Any]:
    """JobExecution (management API): statusDetails nested in `detailsMap`."""
    return {
        "jobId": execution.job_id,
        "status": execution.status,
        "forceCanceled": execution.force_canceled,
        "statusDetails": {"detailsMap": dict(execution.status_details)},
        "thingArn": arn.thing_arn(execution.thing_name),
        **execution_summary(execution),
        "versionNumber": execution.version_number,
        **time_left(execution),
    }


def time_left(execution: Execution) -> dict[str, Any]:
    """JobExecution's approximateSecondsBeforeTimedOut, while a step or in-progress timer
    runs (the earlier of the two)."""
    end = deadline(execution)
    if end is None:
        return {}
    return {"approximateSecondsBeforeTimedOut": max(0, (end - now_ms()) // 1000)}
