"""Just-in-time provisioning: the CA's template applied to a device certificate at its first
connection ("AWS IoT loads the template from the CA certificate and calls RegisterThing using
the template", guide "Just-in-Time Provisioning").

A minimal template application, enough for the guide's and the workshop's JITP templates: `Ref`
to the built-in `AWS::IoT::Certificate::*` parameters (taken from the certificate) or to a
parameter's `Default`; a thing (ThingName, AttributePayload, ThingTypeName/ThingType,
ThingGroups), the certificate (CertificateId = the presented one, Status) and a policy (an
existing PolicyName, or a PolicyDocument). The full provisioning template engine (other
intrinsic functions, OverrideSettings, register-thing) is rig/cloud/provisioning's: `Provision`
is the seam where the runtime can hand JITP to it instead (docs/cloud-decisions.md A-7).

Everything the template names is checked before anything is written: a template that cannot be
applied creates nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from rig.cloud.ca_registration import pem
from rig.cloud.ca_registration.store import CaRegistry
from rig.cloud.core import arn
from rig.cloud.core.errors import InvalidRequestException, ResourceNotFoundException
from rig.cloud.policies.store import Policies
from rig.cloud.registry import Registry

# the guide's built-in JITP parameters -> the certificate subject attribute they read
BUILT_IN_SUBJECT = {
    "AWS::IoT::Certificate::Country": NameOID.COUNTRY_NAME,
    "AWS::IoT::Certificate::Organization": NameOID.ORGANIZATION_NAME,
    "AWS::IoT::Certificate::OrganizationalUnit": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "AWS::IoT::Certificate::DistinguishedNameQualifier": NameOID.DN_QUALIFIER,
    "AWS::IoT::Certificate::StateName": NameOID.STATE_OR_PROVINCE_NAME,
    "AWS::IoT::Certificate::CommonName": NameOID.COMMON_NAME,
    "AWS::IoT::Certificate::SerialNumber": NameOID.SERIAL_NUMBER,
}
CERTIFICATE_STATUSES = ("ACTIVE", "INACTIVE", "PENDING_ACTIVATION")  # "Defaults to ACTIVE."


@dataclass(frozen=True)
class ProvisioningRequest:
    """What JITP hands to a template engine."""

    template_body: str
    parameters: dict[str, str]  # the built-in AWS::IoT::Certificate::* values
    certificate: x509.Certificate
    ca_certificate_id: str


Provision = Callable[[ProvisioningRequest], None]


def built_in_parameters(certificate: x509.Certificate) -> dict[str, str]:
    found = {"AWS::IoT::Certificate::Id": pem.id_of(certificate)}
    for name, oid in BUILT_IN_SUBJECT.items():
        values = certificate.subject.get_attributes_for_oid(oid)
        if values:
            found[name] = str(values[0].value)
    return found


@dataclass
class _Plan:
    thing: dict[str, Any] | None = None
    certificate_status: str = "ACTIVE"
    policies: list[tuple[str, str | None]] | None = None  # (name, document or None)


class TemplateProvisioner:
    """`provision(request)`: the minimal JITP template application on the cloud's services."""

    def __init__(self, registry: Registry, policies: Policies, ca_registry: CaRegistry) -> None:
        self.registry = registry
        self.policies = policies
        self.ca_registry = ca_registry

    def provision(self, request: ProvisioningRequest) -> None:
        plan = self._plan(request)
        certificate_id = pem.id_of(request.certificate)
        with self.ca_registry.store.write() as db:
            self.ca_registry.insert_certificate(
                db, request.certificate, plan.certificate_status, request.ca_certificate_id
            )
        principal = arn.cert_arn(certificate_id)
        if plan.thing is not None:
            name = plan.thing["name"]
            if not self.registry.thing_exists(name):
                self.registry.create_thing(name, plan.thing["type"], plan.thing["attributes"])
            for group in plan.thing["groups"]:
                self.registry.add_thing_to_thing_group(thing_group_name=group, thing_name=name)
            self.registry.attach_thing_principal(name, principal)
        for name, document in plan.policies or []:
            if document is not None and not self._policy_exists(name):
                self.policies.create_policy(name, document)
            self.policies.attach_policy(name, principal)

    def _policy_exists(self, name: str) -> bool:
        try:
            self.policies.get_policy(name)
        except ResourceNotFoundException:
            return False
        return True

    def _plan(self, request: ProvisioningRequest) -> _Plan:
        """Resolve and check the whole template; raises InvalidRequestException or
        ResourceNotFoundException before anything is written."""
        template = json.loads(request.template_body)
        declared = template.get("Parameters") or {}
        values = dict(request.parameters)
        for name, spec in declared.items():
            if name not in values and isinstance(spec, dict) and "Default" in spec:
                values[name] = str(spec["Default"])
        resolve = _Resolver(values).resolve
        plan = _Plan(policies=[])
        assert plan.policies is not None
        for logical_id, resource in (template.get("Resources") or {}).items():
            kind = resource.get("Type") if isinstance(resource, dict) else None
            properties = resolve(resource.get("Properties") or {}) if kind else {}
            if kind == "AWS::IoT::Thing":
                plan.thing = self._thing(properties)
            elif kind == "AWS::IoT::Certificate":
                plan.certificate_status = self._certificate(properties, request)
            elif kind == "AWS::IoT::Policy":
                plan.policies.append(self._policy(properties))
            else:
                raise InvalidRequestException(f"resource {logical_id}: unknown Type {kind!r}")
        return plan

    def _thing(self, properties: dict[str, Any]) -> dict[str, Any]:
        name = properties.get("ThingName")
        if not isinstance(name, str):
            raise InvalidRequestException("the thing resource has no ThingName")
        type_name = properties.get("ThingTypeName") or properties.get("ThingType")
        if type_name:
            self.registry.describe_thing_type(type_name)  # ResourceNotFoundException
        groups = list(properties.get("ThingGroups") or [])
        for group in groups:
            self.registry.describe_thing_group(group)
        attributes = {
            str(k): str(v) for k, v in (properties.get("AttributePayload") or {}).items()
        }
        return {
            "name": name,
            "type": type_name,
            "attributes": {"attributes": attributes},
            "groups": groups,
        }

    @staticmethod
    def _certificate(properties: dict[str, Any], request: ProvisioningRequest) -> str:
        given = properties.get("CertificateId")
        if given is not None and given != pem.id_of(request.certificate):
            raise InvalidRequestException("CertificateId is not the connecting certificate's id")
        status = properties.get("Status", "ACTIVE")
        if status not in CERTIFICATE_STATUSES:
            raise InvalidRequestException(
                f"certificate Status {status!r} is not one of {', '.join(CERTIFICATE_STATUSES)}"
            )
        return status

    def _policy(self, properties: dict[str, Any]) -> tuple[str, str | None]:
        name, document = properties.get("PolicyName"), properties.get("PolicyDocument")
        if (name is None) == (document is None):
            raise InvalidRequestException("PolicyName or PolicyDocument, but not both")
        if document is not None:
            text = document if isinstance(document, str) else json.dumps(document)
            # "Defaults to a hash of the policy document" (the hash is guide silent: SHA-1 hex)
            return hashlib.sha1(text.encode()).hexdigest(), text
        if not isinstance(name, str):
            raise InvalidRequestException("PolicyName must be a string")
        self.policies.get_policy(name)  # "the policy must already be created"
        return name, None


class _Resolver:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def resolve(self, node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Ref"}:
                name = node["Ref"]
                if name not in self.values:
                    raise InvalidRequestException(
                        f"Ref {name!r}: no such parameter, or the certificate has no value for it"
                    )
                return self.values[name]
            return {key: self.resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [self.resolve(item) for item in node]
        return node
