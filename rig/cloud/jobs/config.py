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
            "createdAt": seconds(job["created_ms"]),
            "lastUpdatedAt": seconds(job["last_updated_ms"]),
            "completedAt": seconds(job["completed_ms"]),
            "jobProcessDetails": engine.process_details(statuses),
        }
    )
