"""Bulk registration tasks run in the background of a running cloud (`cloud up`).

A task's input is a newline-delimited JSON file in the object store, one parameter set per line
("Each line contains all of the parameter values for provisioning a single device", the guide's
"Bulk provisioning"). Each line is provisioned on its own (one transaction per line, as
RegisterThing): a bad line goes to the ERRORS report and the next line goes on. At the end the
RESULTS and ERRORS reports (one JSON line per input line, PV-9) are put in the object store and
`list-thing-registration-task-reports` hands out presigned links to them.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

from rig.cloud.core.errors import CloudError
from rig.cloud.provisioning.engine import TemplateError, parse_template, resolve
from rig.cloud.provisioning.provisioner import Provisioner, parameters_of
from rig.cloud.provisioning.store import (
    CANCELLED,
    CANCELLING,
    COMPLETED,
    FAILED,
    TaskStore,
    report_line,
)

log = logging.getLogger(__name__)

POLL_S = 0.1
CHECK_EVERY_LINES = 20  # how often a running task looks for a stop and records its progress
REPORTS_BUCKET = "buttonrig-thing-registration-reports"
LINK_EXPIRY_S = 3600


class ObjectAccess(Protocol):
    """What the runner needs of the object store (rig/cloud/objects/client.py ObjectReader)."""

    def read(self, bucket: str, key: str) -> bytes: ...

    def publish(self, bucket: str, key: str, body: bytes, expires_s: int) -> str: ...


class RegistrationRunner:
    """One thread: takes tasks in creation order and runs each to its end."""

    def __init__(self, tasks: TaskStore, provisioner: Provisioner, objects: ObjectAccess) -> None:
        self.tasks = tasks
        self.provisioner = provisioner
        self.objects = objects
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._abandoned()
        self._thread = threading.Thread(target=self._loop, name="registration-tasks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _abandoned(self) -> None:
        """Tasks a cloud took and did not finish (it was killed): Failed, not run twice."""
        for row in self.tasks.runnable():
            if row["claimed"]:
                self.tasks.finish(
                    row["task_id"], FAILED, "the cloud stopped while the task ran", {}
                )

    def _loop(self) -> None:
        while not self._stopping.wait(POLL_S):
            try:
                for row in self.tasks.runnable():
                    if self._stopping.is_set():
                        return
                    if self.tasks.claim(row["task_id"]):
                        self.run(row["task_id"])
            except Exception:
                log.exception("running thing registration tasks failed")

    def run(self, task_id: str) -> None:
        """Run one task to its end (Completed, Failed or Cancelled)."""
        described = self.tasks.describe(task_id)
        if described["status"] == CANCELLING:
            self.tasks.finish(task_id, CANCELLED, "stopped before it started", {})
            return
        try:
            template = parse_template(described["templateBody"])
            body = self.objects.read(described["inputFileBucket"], described["inputFileKey"])
            text = body.decode()
        except (TemplateError, UnicodeDecodeError) as exc:
            self.tasks.finish(task_id, FAILED, str(exc), {})
            return
        except Exception as exc:  # the object store's own errors (NoSuchKey, NoSuchBucket, …)
            self.tasks.finish(
                task_id,
                FAILED,
                f"cannot read s3://{described['inputFileBucket']}/{described['inputFileKey']}:"
                f" {exc}",
                {},
            )
            return
        results, errors, cancelled = self._lines(task_id, template, text)
        try:
            links = self._publish(task_id, results, errors)
        except Exception as exc:  # the lines are done; only their reports could not be kept
            log.exception("thing registration task %s: storing the reports failed", task_id)
            self.tasks.progress(task_id, len(results), len(errors), 100)
            self.tasks.finish(task_id, FAILED, f"the reports could not be stored: {exc}", {})
            return
        self.tasks.progress(task_id, len(results), len(errors), 100)
        self.tasks.finish(
            task_id,
            CANCELLED if cancelled else COMPLETED,
            "stopped by stop-thing-registration-task" if cancelled else "",
            links,
        )

    def _lines(
        self, task_id: str, template: dict[str, Any], text: str
    ) -> tuple[list[str], list[str], bool]:
        lines = text.splitlines(keepends=True)
        results: list[str] = []
        errors: list[str] = []
        offset = 0
        for number, line in enumerate(lines, start=1):
            if number % CHECK_EVERY_LINES == 0:
                if self.tasks.status(task_id) == CANCELLING or self._stopping.is_set():
                    return results, errors, True
                self.tasks.progress(task_id, len(results), len(errors), number * 100 // len(lines))
            start, offset = offset, offset + len(line.encode())
            if not line.strip():
                continue  # a blank line (the file's last newline) is no parameter set
            report: dict[str, Any] = {"lineNumber": number, "offset": start}
            try:
                plan = resolve(template, parameters_of(line))
                response = self.provisioner.provision(plan)
            except TemplateError as exc:
                errors.append(report_line(report | _error("InvalidRequestException", str(exc))))
                continue
            except CloudError as exc:
                errors.append(report_line(report | _error(exc.code, exc.message)))
                continue
            except Exception as exc:  # never stop the other lines
                log.exception("thing registration task %s line %d", task_id, number)
                errors.append(report_line(report | _error("InternalFailureException", str(exc))))
                continue
            shaped: dict[str, Any] = {"ResourceArns": response["resourceArns"]}
            if "certificatePem" in response:
                shaped = {"CertificatePem": response["certificatePem"], **shaped}
            results.append(report_line(report | {"response": shaped}))
        return results, errors, False

    def _publish(self, task_id: str, results: list[str], errors: list[str]) -> dict[str, str]:
        links: dict[str, str] = {}
        for report_type, lines in (("RESULTS", results), ("ERRORS", errors)):
            if not lines:
                continue  # no report, no link (PV-9)
            body = ("\n".join(lines) + "\n").encode()
            key = f"{task_id}/{report_type.lower()}.json"
            links[report_type] = self.objects.publish(REPORTS_BUCKET, key, body, LINK_EXPIRY_S)
        return links


def _error(code: str, message: str) -> dict[str, str]:
    return {"errorCode": code, "errorMessage": message}
