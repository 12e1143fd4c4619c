"""The Jobs control plane (AWS IoT API operation names, snake_case; camelCase responses),
mixed into the `Cloud` facade (rig/cloud/api.py). The store does the work in one transaction per
call (rig/cloud/jobs/store.py); a refused call raises the API reference's exception."""

from __future__ import annotations

from typing import Any

from rig.cloud.certificates.ca import CertificateAuthority
from rig.cloud.core.control_plane import ControlPlane
from rig.cloud.core.errors import InvalidRequestException
from rig.cloud.core.objects import ObjectSource
from rig.cloud.jobs.engine import JobsError
from rig.cloud.jobs.shapes import execution_description, rest_error
from rig.cloud.jobs.source import fetch_document
from rig.cloud.jobs.store import JobStore
from rig.cloud.registry.names import check_name


class JobsApi(ControlPlane):
    job_store: JobStore
    ca: CertificateAuthority
    objects: ObjectSource  # the rig's S3: documentSource https://s3.amazonaws.com/<bucket>/<key>

    def create_job(
        self,
        job_id: str,
        targets: list[str],
        document: str | None = None,
        document_source: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """`document` inline, or `document_source` fetched now (rig/cloud/jobs/source.py)."""
        if document_source is not None:
            if document is not None:  # guide silent: J-18
                raise InvalidRequestException("give either document or documentSource, not both")
            document = fetch_document(document_source, self.ca.certificate_file, self.objects)
        return self.job_store.create_job(
            job_id, targets, document, document_source=document_source, **kwargs
        )

    def describe_job(self, job_id: str) -> dict[str, Any]:
        return self.job_store.describe_job(job_id)

    def update_job(self, job_id: str, **kwargs: Any) -> dict[str, Any]:
        return self.job_store.update_job(job_id, **kwargs)

    def list_jobs(self, **kwargs: Any) -> dict[str, Any]:
        return self.job_store.list_jobs(**kwargs)

    def cancel_job(self, job_id: str, **kwargs: Any) -> dict[str, Any]:
        return self.job_store.cancel_job(job_id, **kwargs)

    def delete_job(self, job_id: str, force: bool = False) -> dict[str, Any]:
        return self.job_store.delete_job(job_id, force)

    def get_job_document(self, job_id: str) -> dict[str, Any]:
        return self.job_store.get_job_document(job_id)

    def describe_job_execution(
        self, job_id: str, thing_name: str, execution_number: int | None = None
    ) -> dict[str, Any]:
        check_name("thingName", thing_name)
        return self.job_store.describe_job_execution(job_id, thing_name, execution_number)

    def list_job_executions_for_job(self, job_id: str, **kwargs: Any) -> dict[str, Any]:
        return self.job_store.list_job_executions_for_job(job_id, **kwargs)

    def list_job_executions_for_thing(self, thing_name: str, **kwargs: Any) -> dict[str, Any]:
        check_name("thingName", thing_name)
        return self.job_store.list_job_executions_for_thing(thing_name, **kwargs)

    def cancel_job_execution(self, job_id: str, thing_name: str, **kwargs: Any) -> dict[str, Any]:
        check_name("thingName", thing_name)
        return self.job_store.cancel_job_execution(job_id, thing_name, **kwargs)

    def delete_job_execution(
        self, job_id: str, thing_name: str, execution_number: int, force: bool = False
    ) -> dict[str, Any]:
        check_name("thingName", thing_name)
        return self.job_store.delete_job_execution(job_id, thing_name, execution_number, force)

    # the data plane (iot-jobs-data UpdateJobExecution), which the device MQTT API mirrors
    def update_job_execution(
        self, job_id: str, thing_name: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        check_name("thingName", thing_name)
        try:
            execution = self.job_store.update_job_execution(thing_name, job_id, body)
        except JobsError as err:
            raise rest_error(err) from err
        return {"executionState": execution.state(), "execution": execution_description(execution)}
