"""A job's own settings: the request checks of its configurations (CreateJob, UpdateJob) and
the `Job` that DescribeJob shows for a stored row (API reference "Job")."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from rig.cloud.core import arn
from rig.cloud.core.errors import InvalidRequestException
from rig.cloud.jobs import engine
from rig.cloud.jobs.shapes import seconds, without_none


def check_rollout(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """jobExecutionsRolloutConfig: only maximumPerMinute (1-1000, API reference) is modelled;
    without it the rate is 1000 (the most the API allows)."""
    if config is None:
        return None
    if not isinstance(config, dict) or set(config) - {"maximumPerMinute"}:
        raise InvalidRequestException("jobExecutionsRolloutConfig takes only maximumPerMinute")
    rate = config.get("maximumPerMinute", 1000)
    if isinstance(rate, bool) or not isinstance(rate, int) or not 1 <= rate <= 1000:
        raise InvalidRequestException("maximumPerMinute must be 1-1000")
    return {"maximumPerMinute": rate}


MAX_IN_PROGRESS_MINUTES = 10080  # TimeoutConfig: "between 1 minute and 7 days (1 to 10080"


def check_timeout(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """timeoutConfig: inProgressTimeoutInMinutes, 1-10080 (API reference TimeoutConfig)."""
    if config is None:
        return None
    if not isinstance(config, dict) or set(config) != {"inProgressTimeoutInMinutes"}:
        raise InvalidRequestException("timeoutConfig takes inProgressTimeoutInMinutes")
    minutes = config["inProgressTimeoutInMinutes"]
    if (
        isinstance(minutes, bool)
        or not isinstance(minutes, int)
        or not 1 <= minutes <= MAX_IN_PROGRESS_MINUTES
    ):
        raise InvalidRequestException(
            f"inProgressTimeoutInMinutes must be 1-{MAX_IN_PROGRESS_MINUTES}"
        )
    return {"inProgressTimeoutInMinutes": minutes}


def rollout_rate(job: sqlite3.Row) -> int | None:
    """The job's maximumPerMinute, if it has a rollout configuration."""
    return json.loads(job["rollout"])["maximumPerMinute"] if job["rollout"] else None


def timeout_ms(job: sqlite3.Row) -> int | None:
    """The job's in-progress timeout in milliseconds, if it has one."""
    minutes = job["in_progress_minutes"]
    return None if minutes is None else minutes * engine.MINUTE_MS


def job_description(job: sqlite3.Row, statuses: list[str]) -> dict[str, Any]:
    """DescribeJob's `job` for a row of `jobs` and the statuses of its executions."""
    return without_none(
        {
            "jobArn": arn.job_arn(job["job_id"]),
            "jobId": job["job_id"],
            "targetSelection": job["target_selection"],
            "status": job["status"],
            "forceCanceled": bool(job["force_canceled"]),
            "reasonCode": job["reason_code"],
            "comment": job["comment"],
            "targets": json.loads(job["targets"]),
            "description": job["description"],
            "jobExecutionsRolloutConfig": json.loads(job["rollout"]) if job["rollout"] else None,
            "timeoutConfig": None
            if job["in_progress_minutes"] is None
            else {"inProgressTimeoutInMinutes": job["in_progress_minutes"]},
            "abortConfig": json.loads(job["abort"]) if job["abort"] else None,
            "presignedUrlConfig": json.loads(job["presigned_url_config"])
            if job["presigned_url_config"]
            else None,
            "createdAt": seconds(job["created_ms"]),
            "lastUpdatedAt": seconds(job["last_updated_ms"]),
            "completedAt": seconds(job["completed_ms"]),
            "jobProcessDetails": engine.process_details(statuses),
        }
    )


FAILURE_TYPES = {  # AbortCriteria failureType -> the execution statuses it counts
    "FAILED": {engine.FAILED},
    "REJECTED": {engine.REJECTED},
    "TIMED_OUT": {engine.TIMED_OUT},
    "ALL": {engine.FAILED, engine.REJECTED, engine.TIMED_OUT},
}
CRITERIA_MEMBERS = {"failureType", "action", "thresholdPercentage", "minNumberOfExecutedThings"}
# executed (J-22): the device (or its timer) ended the execution
EXECUTED = {engine.SUCCEEDED, engine.FAILED, engine.REJECTED, engine.TIMED_OUT}


def check_abort(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """abortConfig (API reference AbortConfig, AbortCriteria): criteriaList of 1 or more, each
    with all four members; action CANCEL; thresholdPercentage 0-100 with at most two decimals
    ("supports up to two digits after the decimal"); minNumberOfExecutedThings at least 1."""
    if config is None:
        return None
    criteria = config.get("criteriaList") if isinstance(config, dict) else None
    if set(config) != {"criteriaList"} or not isinstance(criteria, list) or not criteria:
        raise InvalidRequestException("abortConfig takes a criteriaList of at least one criteria")
    for item in criteria:
        if not isinstance(item, dict) or set(item) != CRITERIA_MEMBERS:
            raise InvalidRequestException(
                f"each abort criteria takes exactly {', '.join(sorted(CRITERIA_MEMBERS))}"
            )
        if item["failureType"] not in FAILURE_TYPES or item["action"] != "CANCEL":
            raise InvalidRequestException(
                f"failureType must be one of {', '.join(FAILURE_TYPES)}; action CANCEL"
            )
        threshold, minimum = item["thresholdPercentage"], item["minNumberOfExecutedThings"]
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not 0 <= threshold <= 100
            or round(threshold, 2) != threshold
        ):
            raise InvalidRequestException(
                "thresholdPercentage must be 0-100 with at most two digits after the decimal"
            )
        if isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 1:
            raise InvalidRequestException("minNumberOfExecutedThings must be at least 1")
    return {"criteriaList": [dict(item) for item in criteria]}


def abort_met(job: sqlite3.Row, statuses: list[str]) -> bool:
    """Whether any of the job's abort criteria is met by its executions' statuses: at least
    minNumberOfExecutedThings executed, and failures of the type at least thresholdPercentage
    of those executed (J-22)."""
    if not job["abort"]:
        return False
    executed = [status for status in statuses if status in EXECUTED]
    for item in json.loads(job["abort"])["criteriaList"]:
        failures = sum(status in FAILURE_TYPES[item["failureType"]] for status in executed)
        if len(executed) >= item["minNumberOfExecutedThings"] and failures * 100 >= item[
            "thresholdPercentage"
        ] * len(executed):
            return True
    return False


PRESIGNED_EXPIRES_S = (60, 3600)  # PresignedUrlConfig.expiresInSec: "Valid values are 60 - 3600"


def check_presigned_url_config(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """presignedUrlConfig (API reference PresignedUrlConfig): roleArn (20-2048 characters) and
    expiresInSec (60-3600, default 3600). Stored and shown by DescribeJob; the document
    placeholders it signs URLs for are not supported (J-11), so it is not used (J-18)."""
    if config is None:
        return None
    if not isinstance(config, dict) or not set(config) <= {"roleArn", "expiresInSec"}:
        raise InvalidRequestException("presignedUrlConfig takes roleArn and expiresInSec")
    role = config.get("roleArn")
    if role is not None and (not isinstance(role, str) or not 20 <= len(role) <= 2048):
        raise InvalidRequestException("presignedUrlConfig.roleArn must be 20-2048 characters")
    expires = config.get("expiresInSec", PRESIGNED_EXPIRES_S[1])
    low, high = PRESIGNED_EXPIRES_S
    if isinstance(expires, bool) or not isinstance(expires, int) or not low <= expires <= high:
        raise InvalidRequestException(f"presignedUrlConfig.expiresInSec must be {low}-{high}")
    return {**config, "expiresInSec": expires}
