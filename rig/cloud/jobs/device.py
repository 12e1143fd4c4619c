"""The Jobs device API on MQTT: a request on a `$aws/things/<thing>/jobs/...` topic in, its
reply out (guide "Jobs Device MQTT and HTTPS APIs"; topics, payloads and error codes as there).

| request topic                  | operation                      | answered on           |
|--------------------------------|--------------------------------|-----------------------|
| `.../jobs/get`                 | GetPendingJobExecutions        | `.../get/accepted|rejected` |
| `.../jobs/start-next`          | StartNextPendingJobExecution   | `.../start-next/...`  |
| `.../jobs/<jobId or $next>/get`| DescribeJobExecution           | `.../<jobId>/get/...` |
| `.../jobs/<jobId>/update`      | UpdateJobExecution             | `.../<jobId>/update/...` |

Every reply has `timestamp` (epoch seconds, J-12) and the request's `clientToken` when it was a
string. A rejected reply is the guide's ErrorResponse: `code` one of InvalidTopic, InvalidJson,
InvalidRequest, InvalidStateTransition, ResourceNotFound, VersionMismatch, TerminalStateReached,
InternalError, with `executionState` for InvalidStateTransition and VersionMismatch. Any other
topic under `jobs/` that is not one of our own replies or notifications is InvalidTopic, answered
on `<topic>/rejected`. RequestThrottled comes from the MQTT side's in-flight limit (mqtt.py).

The store does each request in one transaction; notify / notify-next go to the outbox with it
(rig/cloud/jobs/notify.py).
"""

from __future__ import annotations

import logging
import re
from typing import Any, NamedTuple

from rig.cloud.core import jsoncodec
from rig.cloud.jobs import engine
from rig.cloud.jobs.engine import Execution, JobsError
from rig.cloud.jobs.notify import (
    DeviceJson,
    device_seconds,
    execution_data,
    job_document,
    pending,
    summary,
)
from rig.cloud.jobs.shapes import now_ms
from rig.cloud.jobs.store import JobStore

log = logging.getLogger(__name__)

# The request topics have two or three levels after `jobs/`: `jobs/get`, `jobs/start-next`,
# `jobs/<jobId>/get`, `jobs/<jobId>/update` (and the wrong ones answered InvalidTopic). Not
# `jobs/#`: the service would receive each of its own `jobs/<jobId>/update/accepted` replies.
JOBS_FILTERS = ("$aws/things/+/jobs/+", "$aws/things/+/jobs/+/+")
JOBS_TOPIC = re.compile(r"^\$aws/things/(?P<thing>[^/]+)/jobs/(?P<rest>.*)$")
NEXT = "$next"
REPLY_SUFFIXES = ("accepted", "rejected")
NOTIFICATIONS = ("notify", "notify-next")

Message = tuple[str, DeviceJson]


class _Request(NamedTuple):
    thing: str
    operation: str  # get-pending | start-next | describe | update
    job_id: str | None
    reply_base: str  # the request topic: replies go to <it>/accepted and <it>/rejected


def parse_topic(topic: str) -> _Request | str | None:
    """The request a topic names; None for a topic the service publishes itself (replies and
    notifications: ignored); a message string for a jobs topic that maps to no API."""
    match = JOBS_TOPIC.match(topic)
    if match is None:
        return None
    thing, parts = match["thing"], match["rest"].split("/")
    if parts[-1] in REPLY_SUFFIXES or match["rest"] in NOTIFICATIONS:
        return None
    if parts == ["get"]:
        return _Request(thing, "get-pending", None, topic)
    if parts == ["start-next"]:
        return _Request(thing, "start-next", None, topic)
    if len(parts) == 2 and parts[0] and parts[1] == "get":
        return _Request(thing, "describe", parts[0], topic)
    if len(parts) == 2 and parts[0] and parts[0] != NEXT and parts[1] == "update":
        return _Request(thing, "update", parts[0], topic)
    return f"{topic} maps to no jobs API"


class DeviceJobs:
    """Answers device requests on the jobs topics from the jobs store."""

    def __init__(self, jobs: JobStore) -> None:
        self.jobs = jobs

    def handle(self, topic: str, payload: bytes) -> list[Message]:
        """The replies to one message (none for the service's own topics). Never raises."""
        parsed = parse_topic(topic)
        if parsed is None:
            return []
        if isinstance(parsed, str):
            return [_rejected(topic, JobsError("InvalidTopic", parsed), None)]
        token: str | None = None
        try:
            body = _body(payload)
            token = _client_token(body)
            accepted = self._answer(parsed, body)
        except JobsError as err:
            return [_rejected(parsed.reply_base, err, token)]
        except Exception:  # e.g. the database stayed locked: answer, never leave it hanging
            log.exception("jobs request on %s failed", topic)
            internal = JobsError("InternalError", "There was an internal error")
            return [_rejected(parsed.reply_base, internal, token)]
        accepted["timestamp"] = device_seconds(now_ms())
        if token is not None:
            accepted["clientToken"] = token
        return [(f"{parsed.reply_base}/accepted", accepted)]

    @staticmethod
    def throttled(topic: str, payload: bytes) -> list[Message]:
        """RequestThrottled for a request not taken in (too many of its thing's in flight)."""
        parsed = parse_topic(topic)
        if not isinstance(parsed, _Request):
            return []
        try:
            token = _client_token(_body(payload))
        except JobsError:
            token = None
        err = JobsError("RequestThrottled", "The request was throttled.")
        return [_rejected(parsed.reply_base, err, token)]

    def _answer(self, request: _Request, body: dict[str, Any]) -> DeviceJson:
        if request.operation == "get-pending":
            return self._pending(request.thing)
        if request.operation == "start-next":
            return self._start_next(request.thing, body)
        assert request.job_id is not None
        if request.operation == "describe":
            return self._describe(request.thing, request.job_id, body)
        return self._update(request.thing, request.job_id, body)

    def _known_thing(self, thing: str) -> None:
        db = self.jobs.store.read()
        if not db.execute("SELECT 1 FROM things WHERE name = ?", (thing,)).fetchone():
            raise JobsError("ResourceNotFound", f"Thing {thing} cannot be found.")

    def _pending(self, thing: str) -> DeviceJson:
        self._known_thing(thing)
        executions = pending(self.jobs.store.read(), thing)
        return {
            "inProgressJobs": [summary(e) for e in executions if e.status == engine.IN_PROGRESS],
            "queuedJobs": [summary(e) for e in executions if e.status == engine.QUEUED],
        }

    def _start_next(self, thing: str, body: dict[str, Any]) -> DeviceJson:
        details = _details(body)
        step_timeout = engine.step_timeout_of(body.get("stepTimeoutInMinutes"))
        self._known_thing(thing)
        started = self.jobs.start_next(thing, details, step_timeout)
        if started is None:  # "the response does not include the execution field"
            return {}
        return {"execution": execution_data(self.jobs.store.read(), started)}

    def _describe(self, thing: str, job_id: str, body: dict[str, Any]) -> DeviceJson:
        number = _number(body)
        include_document = _flag(body, "includeJobDocument", default=True)  # MQTT: true
        db = self.jobs.store.read()
        execution: Execution | None
        if job_id == NEXT:
            self._known_thing(thing)
            waiting = pending(db, thing)
            execution = waiting[0] if waiting else None
            if execution is None:  # ours, like start-next: accepted without `execution`
                return {}
        else:
            execution = self._execution(thing, job_id, number)
        return {"execution": execution_data(db, execution, include_document)}

    def _execution(self, thing: str, job_id: str, number: int | None) -> Execution:
        for execution in sorted(
            (e for e in self.jobs.executions_of(thing) if e.job_id == job_id),
            key=lambda e: e.execution_number,
            reverse=True,  # "If not specified, the latest job execution is returned"
        ):
            if number is None or execution.execution_number == number:
                return execution
        raise JobsError("ResourceNotFound", f"No job execution of job {job_id} on thing {thing}")

    def _update(self, thing: str, job_id: str, body: dict[str, Any]) -> DeviceJson:
        include_state = _flag(body, "includeJobExecutionState", default=False)
        include_document = _flag(body, "includeJobDocument", default=False)
        updated = self.jobs.update_job_execution(thing, job_id, body)
        reply: DeviceJson = {}
        if include_state:
            reply["executionState"] = updated.state()
        if include_document:
            reply["jobDocument"] = job_document(self.jobs.store.read(), job_id)
        return reply


# ---- request fields ---------------------------------------------------------------------------


def _body(payload: bytes) -> dict[str, Any]:
    """The request object. An empty payload reads as `{}` (ours: every field but update's
    `status` is optional). Not UTF-8 JSON: InvalidJson; JSON but no object: InvalidRequest."""
    if not payload:
        return {}
    try:
        body = jsoncodec.loads(payload)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise JobsError(
            "InvalidJson", "The request could not be interpreted as valid UTF-8 JSON"
        ) from None
    if not isinstance(body, dict):
        raise JobsError.invalid_request("the request must be a JSON object")
    return body


def _client_token(body: dict[str, Any]) -> str | None:
    token = body.get("clientToken")
    if token is None:
        return None
    if not isinstance(token, str) or not _encodable(token):
        raise JobsError.invalid_request("clientToken must be a string")
    return token


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate: it could not be written back
        return False
    return True


def _flag(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise JobsError.invalid_request(f"{name} must be true or false")
    return value


def _number(body: dict[str, Any]) -> int | None:
    value = body.get("executionNumber")
    return None if value is None else engine.version_of(value, "executionNumber")


def _details(body: dict[str, Any]) -> dict[str, str] | None:
    value = body.get("statusDetails")
    return None if value is None else engine.status_details_of(value)


def _rejected(reply_base: str, err: JobsError, token: str | None) -> Message:
    """The guide's ErrorResponse."""
    body: DeviceJson = {
        "code": err.code,
        "message": err.message,
        "timestamp": device_seconds(now_ms()),
    }
    if token is not None:
        body["clientToken"] = token
    if err.execution_state is not None:
        body["executionState"] = err.execution_state
    return (f"{reply_base}/rejected", body)
