"""The local reference cloud as a backend: the `Cloud` API in this process, its broker's
endpoint. It has every capability, the local cloud's internals included."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from rig.backends.base import (
    LOCAL_CLOUD,
    BackendError,
    BoardIdentity,
    CloudBackend,
    ObservedClick,
)
from rig.backends.keys import new_key_and_csr
from rig.cloud.api import Cloud, button_policy_document
from rig.cloud.core import arn
from rig.cloud.core.errors import CloudError
from rig.cloud.runtime import CloudRuntime
from rig.mqtt.endpoint import BrokerEndpoint


class LocalBackend(CloudBackend):
    name = "local"
    capabilities = frozenset({LOCAL_CLOUD})

    def __init__(self, cloud: Cloud, endpoint: BrokerEndpoint) -> None:
        self.cloud = cloud
        self._endpoint = endpoint

    @property
    def endpoint(self) -> BrokerEndpoint:
        return self._endpoint

    def provision_board(self, thing_name: str) -> BoardIdentity:
        cloud = self.cloud
        try:
            cloud.create_thing(thing_name)
        except CloudError as exc:
            if exc.code != "ResourceAlreadyExistsException":
                raise
        made = new_key_and_csr(thing_name)
        certificate = cloud.create_certificate_from_csr(made.csr_pem, set_as_active=True)
        policy_name = f"{thing_name}-button-{uuid.uuid4().hex[:8]}"
        cloud.create_policy(policy_name, button_policy_document(thing_name))
        cloud.attach_policy(policy_name, certificate["certificateArn"])
        cloud.attach_thing_principal(thing_name, certificate["certificateArn"])
        return BoardIdentity(
            thing_name=thing_name,
            certificate_id=certificate["certificateId"],
            certificate_arn=certificate["certificateArn"],
            policy_name=policy_name,
            certificate_pem=certificate["certificatePem"],
            ca_pem=cloud.ca.certificate_pem,
            private_key_pem=made.private_key_pem,
            private_key_der=made.private_key_der,
        )

    def certificate_status(self, certificate_id: str) -> str | None:
        try:
            found = self.cloud.describe_certificate(certificate_id)
        except CloudError:
            return None
        return str(found["certificateDescription"]["status"])

    def set_certificate_status(self, certificate_id: str, status: str) -> None:
        self.cloud.update_certificate(certificate_id, status)

    def thing_principals(self, thing_name: str) -> list[str]:
        try:
            return list(self.cloud.list_thing_principals(thing_name)["principals"])
        except CloudError:
            return []

    def attached_policies(self, certificate_arn: str) -> list[str]:
        policies = self.cloud.list_attached_policies(certificate_arn)["policies"]
        return [p["policyName"] for p in policies]

    def thing_arn(self, thing_name: str) -> str:
        return arn.thing_arn(thing_name)

    def thing_group_arn(self, group_name: str) -> str:
        return arn.thing_group_arn(group_name)

    def get_shadow(self, thing_name: str, shadow_name: str = "") -> dict[str, Any] | None:
        try:
            return json.loads(self.cloud.get_thing_shadow(thing_name, shadow_name))
        except CloudError as exc:
            if exc.code == "ResourceNotFoundException":
                return None
            raise

    def update_shadow(
        self, thing_name: str, document: dict[str, Any], shadow_name: str = ""
    ) -> dict[str, Any]:
        payload = json.dumps(document).encode()
        return json.loads(self.cloud.update_thing_shadow(thing_name, payload, shadow_name))

    def create_job(
        self,
        job_id: str,
        targets: Sequence[str],
        document: dict[str, Any],
        target_selection: str = "SNAPSHOT",
    ) -> dict[str, Any]:
        return self.cloud.create_job(
            job_id, list(targets), json.dumps(document), target_selection=target_selection
        )

    def job_execution(self, job_id: str, thing_name: str) -> dict[str, Any] | None:
        try:
            return self.cloud.describe_job_execution(job_id, thing_name)["execution"]
        except CloudError as exc:
            if exc.code == "ResourceNotFoundException":
                return None
            raise

    def clicks(self, serial: str) -> list[ObservedClick]:
        return [
            ObservedClick(c.event_id, c.serial, c.click_type, c.copies)
            for c in self.cloud.clicks(serial)
        ]


def local_backend(runtime: CloudRuntime) -> LocalBackend:
    """The backend of a started `CloudRuntime` (the `cloud` fixture, `cloud up`, the demo)."""
    if runtime.endpoint is None:
        raise BackendError(f"the cloud of {runtime.home} is not started")
    return LocalBackend(runtime.cloud, runtime.endpoint)
