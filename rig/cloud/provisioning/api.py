"""The provisioning control plane, mixed into the `Cloud` facade (rig/cloud/api.py):
RegisterThing and the thing registration tasks, with the AWS IoT API's names and shapes."""

from __future__ import annotations

from typing import Any

from rig.cloud.core.control_plane import ControlPlane
from rig.cloud.core.errors import InvalidRequestException
from rig.cloud.core.objects import ObjectSource
from rig.cloud.provisioning.engine import TemplateError, parse_template, resolve
from rig.cloud.provisioning.provisioner import Provisioner
from rig.cloud.provisioning.store import TaskStore


def _page(items: list[str], key: str, max_results: int | None, token: str | None) -> dict:
    if max_results is not None and not 1 <= max_results <= 250:
        raise InvalidRequestException(f"maxResults must be 1..250, got {max_results}")
    try:
        start = int(token) if token else 0
    except ValueError:
        raise InvalidRequestException(f"invalid nextToken {token!r}") from None
    end = len(items) if max_results is None else start + max_results
    listed: dict[str, Any] = {key: items[start:end]}
    if end < len(items):
        listed["nextToken"] = str(end)
    return listed


def _template(template_body: str) -> dict[str, Any]:
    if not isinstance(template_body, str) or not template_body.strip():
        raise InvalidRequestException("templateBody must be a non-empty string")
    try:
        return parse_template(template_body)
    except TemplateError as exc:
        raise InvalidRequestException(str(exc)) from exc


class ProvisioningApi(ControlPlane):
    provisioner: Provisioner
    registration_tasks: TaskStore
    objects: ObjectSource

    def register_thing(
        self, template_body: str, parameters: dict[str, str] | None = None
    ) -> dict[str, Any]:
        template = _template(template_body)
        try:
            plan = resolve(template, dict(parameters or {}))
        except TemplateError as exc:
            raise InvalidRequestException(str(exc)) from exc
        return self._mutating(self.provisioner.provision(plan))

    def start_thing_registration_task(
        self, template_body: str, input_file_bucket: str, input_file_key: str, role_arn: str
    ) -> dict[str, Any]:
        _template(template_body)
        for name, value in (
            ("inputFileBucket", input_file_bucket),
            ("inputFileKey", input_file_key),
            ("roleArn", role_arn),
        ):
            if not isinstance(value, str) or not value:
                raise InvalidRequestException(f"{name} must be a non-empty string")
        if not self.objects.exists(input_file_bucket, input_file_key):
            raise InvalidRequestException(
                f"The input file s3://{input_file_bucket}/{input_file_key} does not exist"
            )
        task_id = self.registration_tasks.create(
            template_body, input_file_bucket, input_file_key, role_arn
        )
        return {"taskId": task_id}

    def describe_thing_registration_task(self, task_id: str) -> dict[str, Any]:
        return self.registration_tasks.describe(task_id)

    def list_thing_registration_tasks(
        self,
        status: str | None = None,
        max_results: int | None = None,
        next_token: str | None = None,
    ) -> dict[str, Any]:
        return _page(self.registration_tasks.task_ids(status), "taskIds", max_results, next_token)

    def list_thing_registration_task_reports(
        self,
        task_id: str,
        report_type: str,
        max_results: int | None = None,
        next_token: str | None = None,
    ) -> dict[str, Any]:
        links = self.registration_tasks.report_links(task_id, report_type)
        listed = _page(links, "resourceLinks", max_results, next_token)
        return {"resourceLinks": listed["resourceLinks"], "reportType": report_type} | (
            {"nextToken": listed["nextToken"]} if "nextToken" in listed else {}
        )

    def stop_thing_registration_task(self, task_id: str) -> dict[str, Any]:
        self.registration_tasks.stop(task_id)
        return {}
