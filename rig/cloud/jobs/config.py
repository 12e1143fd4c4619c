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
    """jobExecutionsRolloutConfig: only maximumPerMinute (1-1000, API reference) is modelled."""
    if config is None:
        return None
    if not isinstance(config, dict) or set(config) - {"maximumPerMinute"}:
        raise InvalidRequestException("jobExecutionsRolloutConfig takes only maximumPerMinute")
    rate = config.get("maximumPerMinute", 1000)
    if isinstance(rate, bool) or not isinstance(rate, int) or not 1 <= rate <= 1000:
        raise InvalidRequestException("maximumPerMinute must be 1-1000")
    return {"maximumPerMinute": rate}


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
            "createdAt": seconds(job["created_ms"]),
            "lastUpdatedAt": seconds(job["last_updated_ms"]),
            "completedAt": seconds(job["completed_ms"]),
            "jobProcessDetails": engine.process_details(statuses),
        }
    )
