"""`Cloud`: the Python API of the reference cloud (tests, the rig and the CLI use it).

A facade: each service keeps its own control-plane API (registry/api.py, certificates/api.py,
policies/api.py, shadow/api.py, clicks/api.py, jobs/api.py) and `Cloud` mixes them over one
database in a rig home, plus what spans services (`provision_button`, event configurations, the
endpoint, and the registry's group membership reaching the jobs of continuous targets).
Method names and return shapes follow the AWS IoT API (snake_case methods, camelCase JSON keys).
Errors are `rig.cloud.core.errors.CloudError` subclasses named like the AWS exceptions.
How an auth change reaches a running broker: rig/cloud/core/control_plane.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rig.cloud.ca_registration.api import CaRegistrationApi
from rig.cloud.ca_registration.store import CaRegistry
from rig.cloud.certificates.api import CertificatesApi
from rig.cloud.certificates.ca import CertificateAuthority
from rig.cloud.certificates.store import Certificates, common_name_problem
from rig.cloud.clicks.api import ClicksApi
from rig.cloud.clicks.store import ClickLog
from rig.cloud.core import arn, endpoint, events
from rig.cloud.core.errors import CloudError, InvalidRequestException, ResourceNotFoundException
from rig.cloud.core.objects import ObjectSource
from rig.cloud.core.store import Store
from rig.cloud.functions.api import Functions
from rig.cloud.indexing.api import IndexingApi
from rig.cloud.indexing.documents import ThingDocuments
from rig.cloud.indexing.dynamic import DynamicGroups
from rig.cloud.indexing.store import IndexingConfiguration
from rig.cloud.jobs.api import JobsApi
from rig.cloud.jobs.data_plane import JobsDataPlane
from rig.cloud.jobs.store import JobStore
from rig.cloud.lifecycle.store import PresenceStore, index_connectivity
from rig.cloud.logging_options.api import LoggingApi
from rig.cloud.logging_options.log import IotLog
from rig.cloud.logging_options.store import LoggingOptions
from rig.cloud.messages.api import MessagesApi
from rig.cloud.objects.client import ObjectReader
from rig.cloud.oneclick.api import OneClick
from rig.cloud.policies.api import PoliciesApi
from rig.cloud.policies.store import Policies
from rig.cloud.provisioning.api import ProvisioningApi
from rig.cloud.provisioning.provisioner import Provisioner
from rig.cloud.provisioning.store import TaskStore
from rig.cloud.registry import Registry
from rig.cloud.registry.api import RegistryApi
from rig.cloud.rules.api import RulesApi
from rig.cloud.rules.store import TopicRules
from rig.cloud.shadow.api import ShadowApi
from rig.cloud.shadow.store import ShadowStore, index_shadows


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


class Cloud(
    RegistryApi,
    CaRegistrationApi,
    CertificatesApi,
    PoliciesApi,
    ShadowApi,
    ClicksApi,
    JobsApi,
    IndexingApi,
    LoggingApi,
    ProvisioningApi,
    MessagesApi,
    RulesApi,
):
    """The reference cloud's state and operations, rooted in a rig home directory."""

    objects: ObjectSource  # the rig's S3 (ObjectReader): jobs and provisioning read from it

    def __init__(self, home: Path) -> None:
        self.home = home
        self.directory = home / "cloud"
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.store = Store(self.directory / "state.db")
        self.ca = CertificateAuthority(self.directory / "ca")
        self.registry = Registry(self.store)
        self.certificates = Certificates(self.store, self.ca)
        self.ca_registry = CaRegistry(self.store)  # your own CA (rig/cloud/ca_registration)
        self.policies = Policies(self.store)
        self.shadow_store = ShadowStore(self.store)
        self.click_log = ClickLog(self.store)
        self.job_store = JobStore(self.store)
        self.jobs_data = JobsDataPlane(self.job_store)  # aws iot-jobs-data
        self.registry.membership_observers.append(self.job_store.membership_changed)
        self.registry.thing_deletion_observers.append(self.job_store.thing_deleted)
        self._compose_indexing()
        self.logging_options = LoggingOptions(self.store)  # v2 logging (aws iot *-v2-logging-*)
        self.iot_log = IotLog(self.store, self.directory)  # the device log honouring it
        # provisioning: templates over the registry, certificates and policies; bulk tasks
        # read their input from the object store (rig/cloud/objects) of the running cloud
        self.provisioner = Provisioner(
            self.store, self.registry, self.certificates, self.policies, self.ca_registry
        )
        self.registration_tasks = TaskStore(self.store)
        self.objects = ObjectReader(home)
        self.auth_applier = None
        # AWS IoT 1-Click (aws iot1click-devices / iot1click-projects): recorded clicks become
        # device events and callbacks, invoked through the local Lambda functions (below)
        self.oneclick = OneClick(self.store, self.registry, self.certificates)
        self.click_log.observers.append(self.oneclick.delivery.on_click)
        # rules engine and local Lambda (#14): rules/, functions/; `functions` is the
        # FunctionInvoker other services call (rig/cloud/functions/__init__.py)
        self.topic_rules = TopicRules(self.store)
        self.functions = Functions(self.store, self.directory / "functions")
        self.oneclick.use_functions(self.functions)  # 1-Click callbacks run here

    def _compose_indexing(self) -> None:
        """Fleet indexing reads the registry, shadows and presence; dynamic groups follow
        their changes inside the changing transaction (rig/cloud/indexing/dynamic.py)."""
        self.presence_store = PresenceStore(self.store)  # the runtime's lifecycle service's
        self.indexing_configuration = IndexingConfiguration(self.store)
        self.thing_documents = ThingDocuments(index_shadows, index_connectivity)
        self.dynamic_groups = DynamicGroups(self.registry, self.thing_documents)
        self.registry.thing_change_observers.append(self.dynamic_groups.thing_changed)
        self.registry.membership_observers.append(self.dynamic_groups.membership_changed)
        self.shadow_store.change_observers.append(self.dynamic_groups.shadow_changed)
        self.presence_store.change_observers.append(self.dynamic_groups.thing_changed)

    # ---- account-wide ----------------------------------------------------------------------

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

    def close(self) -> None:
        self.functions.close()  # its warm worker processes
        self.store.close()
