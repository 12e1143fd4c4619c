"""`Cloud`: the Python API of the reference cloud (tests, the rig and the CLI use it).

Method names and return shapes follow the AWS IoT API (snake_case methods, camelCase JSON keys).
Errors are `rig.cloud.core.errors.CloudError` subclasses named like the AWS exceptions.

Every process of a rig opens the same SQLite database, so a `Cloud` works whether or not
`buttonrig cloud up` runs. When it runs, a change of certificates, policies or attachments must
reach the broker at once: in the cloud's own process the runtime applies it synchronously; from
another process we wait until the running cloud reports it applied (counter `auth_applied`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rig.cloud import shadows
from rig.cloud.ca import CertificateAuthority, IssuedCertificate
from rig.cloud.certificates import Certificates, common_name_problem
from rig.cloud.core import arn, endpoint, events
from rig.cloud.core.errors import CloudError, InvalidRequestException, ResourceNotFoundException
from rig.cloud.core.store import Store
from rig.cloud.policies import Policies, document_text
from rig.cloud.registry import Registry

if TYPE_CHECKING:
    from rig.cloud.handlers.clicks import Click

AUTH_SYNC_TIMEOUT_S = 15.0


def button_policy_document(thing_name: str) -> str:
    """Connect as itself, publish clicks on iotbutton/<thing>, use its own shadow and jobs."""
    own = [f"$aws/things/{thing_name}/shadow/*", f"$aws/things/{thing_name}/jobs/*"]
    statements = [
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": arn.client_arn(thing_name)},
        {
            "Effect": "Allow",
            "Action": "iot:Publish",
            "Resource": [arn.topic_arn(f"iotbutton/{thing_name}"), *map(arn.topic_arn, own)],
        },
        {
            "Effect": "Allow",
            "Action": "iot:Subscribe",
            "Resource": [arn.topicfilter_arn(t) for t in own],
        },
        {"Effect": "Allow", "Action": "iot:Receive", "Resource": [arn.topic_arn(t) for t in own]},
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


class Cloud:
    """The reference cloud's state and operations, rooted in a rig home directory."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.directory = home / "cloud"
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.store = Store(self.directory / "state.db")
        self.ca = CertificateAuthority(self.directory / "ca")
        self.registry = Registry(self.store)
        self.certificates = Certificates(self.store, self.ca)
        self.policies = Policies(self.store)
        self.shadow_store = shadows.ShadowStore(self.store)
        # set by a CloudRuntime in this process: applies auth changes to the broker now
        self.auth_applier: Callable[[], None] | None = None

    # ---- keeping the broker in step ------------------------------------------------------

    def _auth_changed(self) -> None:
        if self.auth_applier is not None:
            self.auth_applier()
            return
        running = endpoint.running_cloud(self.home)
        if running is None:
            return
        wanted = self.store.counter("auth_generation")
        deadline = time.monotonic() + AUTH_SYNC_TIMEOUT_S
        while self.store.counter("auth_applied") < wanted:
            if time.monotonic() > deadline or endpoint.running_cloud(self.home) is None:
                return  # the running cloud still polls and applies it; do not fail the call
            time.sleep(0.02)

    def _mutating(self, result: dict[str, Any]) -> dict[str, Any]:
        self._auth_changed()
        return result

    # ---- registry --------------------------------------------------------------------------

    def create_thing(self, thing_name: str, **kwargs: Any) -> dict[str, Any]:
        return self.registry.create_thing(thing_name, **kwargs)

    def describe_thing(self, thing_name: str) -> dict[str, Any]:
        return self.registry.describe_thing(thing_name)

    def list_things(self, **kwargs: Any) -> dict[str, Any]:
        return self.registry.list_things(**kwargs)

    def update_thing(self, thing_name: str, **kwargs: Any) -> dict[str, Any]:
        return self._mutating(self.registry.update_thing(thing_name, **kwargs))

    def delete_thing(self, thing_name: str, expected_version: int | None = None) -> dict[str, Any]:
        return self._mutating(self.registry.delete_thing(thing_name, expected_version))

    def create_thing_type(self, thing_type_name: str, **kwargs: Any) -> dict[str, Any]:
        return self.registry.create_thing_type(thing_type_name, **kwargs)

    def describe_thing_type(self, thing_type_name: str) -> dict[str, Any]:
        return self.registry.describe_thing_type(thing_type_name)

    def create_thing_group(self, thing_group_name: str, **kwargs: Any) -> dict[str, Any]:
        return self.registry.create_thing_group(thing_group_name, **kwargs)

    def describe_thing_group(self, thing_group_name: str) -> dict[str, Any]:
        return self.registry.describe_thing_group(thing_group_name)

    def list_thing_types(self) -> dict[str, Any]:
        return self.registry.list_thing_types()

    def deprecate_thing_type(
        self, thing_type_name: str, undo_deprecate: bool = False
    ) -> dict[str, Any]:
        return self.registry.deprecate_thing_type(thing_type_name, undo_deprecate)

    def delete_thing_type(self, thing_type_name: str) -> dict[str, Any]:
        return self.registry.delete_thing_type(thing_type_name)

    def list_thing_groups(self, **kwargs: Any) -> dict[str, Any]:
        return self.registry.list_thing_groups(**kwargs)

    def update_thing_group(self, thing_group_name: str, **kwargs: Any) -> dict[str, Any]:
        return self.registry.update_thing_group(thing_group_name, **kwargs)

    def delete_thing_group(
        self, thing_group_name: str, expected_version: int | None = None
    ) -> dict[str, Any]:
        return self._mutating(self.registry.delete_thing_group(thing_group_name, expected_version))

    def list_thing_groups_for_thing(self, thing_name: str) -> dict[str, Any]:
        return self.registry.list_thing_groups_for_thing(thing_name)

    def list_things_in_thing_group(
        self, thing_group_name: str, recursive: bool = False
    ) -> dict[str, Any]:
        return self.registry.list_things_in_thing_group(thing_group_name, recursive)

    def describe_event_configurations(self) -> dict[str, Any]:
        return events.describe_configurations(self.store.read())

    def update_event_configurations(self, event_configurations: dict[str, Any]) -> dict[str, Any]:
        try:
            with self.store.write() as db:
                events.update_configurations(db, event_configurations)
        except ValueError as exc:
            raise InvalidRequestException(str(exc)) from exc
        return {}

    def describe_endpoint(self, endpoint_type: str | None = None) -> dict[str, Any]:
        """Where devices connect. `port` is ours (AWS's is always 8883); needs a running cloud."""
        del endpoint_type  # one endpoint serves every type here
        running = endpoint.running_cloud(self.home)
        if running is None:
            raise ResourceNotFoundException(
                f"no cloud runs for {self.home}: start one with `buttonrig cloud up`"
            )
        return {"endpointAddress": running["server_hostname"], "port": running["port"]}

    def add_thing_to_thing_group(self, **kwargs: Any) -> dict[str, Any]:
        return self._mutating(self.registry.add_thing_to_thing_group(**kwargs))

    def remove_thing_from_thing_group(
        self, thing_group_name: str, thing_name: str
    ) -> dict[str, Any]:
        return self._mutating(
            self.registry.remove_thing_from_thing_group(thing_group_name, thing_name)
        )

    def attach_thing_principal(self, thing_name: str, principal: str) -> dict[str, Any]:
        return self._mutating(self.registry.attach_thing_principal(thing_name, principal))

    def detach_thing_principal(self, thing_name: str, principal: str) -> dict[str, Any]:
        return self._mutating(self.registry.detach_thing_principal(thing_name, principal))

    def list_thing_principals(self, thing_name: str) -> dict[str, Any]:
        return self.registry.list_thing_principals(thing_name)

    # ---- certificates ------------------------------------------------------------------

    def create_keys_and_certificate(
        self, set_as_active: bool = False, common_name: str | None = None, key_type: str = "EC"
    ) -> dict[str, Any]:
        """The AWS response, keyPair included (the only time the private key is given out)."""
        response, _ = self.issue_keys_and_certificate(set_as_active, common_name, key_type)
        return response

    def issue_keys_and_certificate(
        self, set_as_active: bool = False, common_name: str | None = None, key_type: str = "EC"
    ) -> tuple[dict[str, Any], IssuedCertificate]:
        """Like create_keys_and_certificate, plus the issued material (DER forms)."""
        response, issued = self.certificates.create_keys_and_certificate(
            set_as_active, common_name, key_type
        )
        self._auth_changed()
        return response, issued

    def create_certificate_from_csr(
        self, certificate_signing_request: str, set_as_active: bool = False
    ) -> dict[str, Any]:
        return self._mutating(
            self.certificates.create_certificate_from_csr(
                certificate_signing_request, set_as_active
            )
        )

    def update_certificate(self, certificate_id: str, new_status: str) -> dict[str, Any]:
        return self._mutating(self.certificates.update_certificate(certificate_id, new_status))

    def delete_certificate(self, certificate_id: str) -> dict[str, Any]:
        return self._mutating(self.certificates.delete_certificate(certificate_id))

    def describe_certificate(self, certificate_id: str) -> dict[str, Any]:
        return self.certificates.describe_certificate(certificate_id)

    def list_certificates(self) -> dict[str, Any]:
        return self.certificates.list_certificates()

    # ---- policies ----------------------------------------------------------------------

    def create_policy(
        self, policy_name: str, policy_document: str | dict[str, Any]
    ) -> dict[str, Any]:
        return self.policies.create_policy(policy_name, document_text(policy_document))

    def create_policy_version(
        self, policy_name: str, policy_document: str | dict[str, Any], set_as_default: bool = False
    ) -> dict[str, Any]:
        return self._mutating(
            self.policies.create_policy_version(
                policy_name, document_text(policy_document), set_as_default
            )
        )

    def get_policy(self, policy_name: str) -> dict[str, Any]:
        return self.policies.get_policy(policy_name)

    def list_policies(self) -> dict[str, Any]:
        return self.policies.list_policies()

    def delete_policy(self, policy_name: str) -> dict[str, Any]:
        return self.policies.delete_policy(policy_name)

    def attach_policy(self, policy_name: str, target: str) -> dict[str, Any]:
        return self._mutating(self.policies.attach_policy(policy_name, target))

    def detach_policy(self, policy_name: str, target: str) -> dict[str, Any]:
        return self._mutating(self.policies.detach_policy(policy_name, target))

    def list_attached_policies(self, target: str) -> dict[str, Any]:
        return self.policies.list_attached_policies(target)

    # ---- shadows (REST-shaped: bytes in, bytes out) --------------------------------------

    def _shadow(self, operation: str, thing_name: str, payload: bytes, shadow_name: str) -> bytes:
        from rig.cloud.registry import check_name

        check_name("thingName", thing_name)
        if shadow_name:  # "" is the classic shadow
            shadows.check_shadow_name(shadow_name)
        # MQTT subscribers see REST changes too (guide silent; ours): the cloud service
        # publishes them from the outbox, written in the shadow's own transaction
        outcome = self.shadow_store.handle(
            operation, thing_name, payload, shadow_name, to_outbox=operation != "get"
        )
        if outcome.error is not None:
            raise shadows.rest_error(outcome.error)
        assert outcome.accepted is not None
        return shadows.encode(outcome.accepted)

    def get_thing_shadow(self, thing_name: str, shadow_name: str = "") -> bytes:
        return self._shadow("get", thing_name, b"", shadow_name)

    def update_thing_shadow(self, thing_name: str, payload: bytes, shadow_name: str = "") -> bytes:
        return self._shadow("update", thing_name, payload, shadow_name)

    def delete_thing_shadow(self, thing_name: str, shadow_name: str = "") -> bytes:
        return self._shadow("delete", thing_name, b"", shadow_name)

    # ---- rig convenience -----------------------------------------------------------------

    def provision_button(self, thing_name: str, key_type: str = "EC") -> dict[str, Any]:
        """Thing + active certificate (CN = thing name) + its own policy, all attached.

        Returns the certificate and key in PEM and DER, the CA, and the endpoint when a cloud
        is running (else None). The key is returned, never stored.
        """
        if problem := common_name_problem(thing_name):  # before anything is created
            raise InvalidRequestException(problem)
        try:
            self.registry.create_thing(thing_name)
        except CloudError as exc:
            if exc.code != "ResourceAlreadyExistsException":
                raise
        response, issued = self.certificates.create_keys_and_certificate(
            True, thing_name, key_type
        )
        policy_name = f"{thing_name}-button"
        try:
            self.policies.create_policy(policy_name, button_policy_document(thing_name))
        except CloudError as exc:
            if exc.code != "ResourceAlreadyExistsException":
                raise
        self.policies.attach_policy(policy_name, response["certificateArn"])
        self.registry.attach_thing_principal(thing_name, response["certificateArn"])
        self._auth_changed()
        if issued.private_key_pem is None or issued.private_key_der is None:
            raise InvalidRequestException("the CA returned no private key")
        return {
            "thingName": thing_name,
            "certificateId": response["certificateId"],
            "certificateArn": response["certificateArn"],
            "policyName": policy_name,
            "certificatePem": issued.certificate_pem,
            "certificateDer": issued.certificate_der,
            "privateKeyPem": issued.private_key_pem,
            "privateKeyDer": issued.private_key_der,
            "caPem": self.ca.certificate_pem,
            "caDer": self.ca.certificate_der,
            "endpoint": endpoint.read(self.home),
        }

    def clicks(self, serial: str | None = None) -> list[Click]:
        """Click messages the cloud received on iotbutton/<serial> (all when None), one per
        eventId, oldest first (rig/cloud/handlers/clicks.py)."""
        from rig.cloud.handlers.clicks import ClickLog

        return ClickLog(self.store).clicks(serial)

    def close(self) -> None:
        self.store.close()
