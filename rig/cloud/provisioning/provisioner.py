"""Apply a resolved template (engine.Plan) to the registry, certificates and policies.

Everything one parameter set asks for is made in ONE database transaction (the services'
operations nest as savepoints, rig/cloud/core/store.py): a failure at any step (a thing type or
group that does not exist, a policy that does not parse, a thing name taken with another
configuration) leaves nothing behind. The CSR is checked and signed before the transaction, so a
CSR that does not parse fails before anything is written.
"""

from __future__ import annotations

import json
from typing import Any

from rig.cloud.ca_registration import pem
from rig.cloud.ca_registration.store import CaRegistry
from rig.cloud.certificates.ca import CsrError, IssuedCertificate
from rig.cloud.certificates.store import (
    RESERVED_COMMON_NAMES,
    Certificates,
    common_name_problem,
    placeholder_common_name,
)
from rig.cloud.core import arn
from rig.cloud.core.errors import (
    CloudError,
    InvalidRequestException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
)
from rig.cloud.core.store import Store
from rig.cloud.policies.store import Policies
from rig.cloud.provisioning.engine import Certificate, Plan, Policy, Thing
from rig.cloud.registry import Registry, check_name


class ResourceConflictsException(CloudError):
    """The guide's error of an OverrideSettings FAIL on a resource that exists."""

    code, http_status = "ResourceConflictsException", 409


class Provisioner:
    """RegisterThing's work for one parameter set (the API and the bulk tasks share it)."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        certificates: Certificates,
        policies: Policies,
        ca_registry: CaRegistry,
    ) -> None:
        self.store = store
        self.registry = registry
        self.certificates = certificates
        self.policies = policies
        self.ca_registry = ca_registry  # CertificatePem: a registered CA's device certificate

    def provision(self, plan: Plan) -> dict[str, Any]:
        """{"certificatePem": ..., "resourceArns": {logical name: ARN}} (RegisterThing)."""
        if plan.thing is not None:
            check_name("thingName", plan.thing.thing_name)
        issued = self._signed(plan.certificate)
        arns: dict[str, str] = {}
        certificate_pem: str | None = None
        with self.store.write():  # one transaction: the operations below nest in it (PV-1)
            certificate_arn: str | None = None
            if plan.certificate is not None:
                certificate_arn, certificate_pem = self._certificate(plan.certificate, issued)
                arns[plan.certificate.logical_name] = certificate_arn
            for policy in plan.policies:
                arns[policy.logical_name] = self._policy(policy)
                assert certificate_arn is not None  # the engine wants a certificate for policies
                self.policies.attach_policy(policy.policy_name, certificate_arn)
            if plan.thing is not None:
                arns[plan.thing.logical_name] = self._thing(plan.thing)
                if certificate_arn is not None:
                    self.registry.attach_thing_principal(plan.thing.thing_name, certificate_arn)
        response: dict[str, Any] = {"resourceArns": arns}
        if certificate_pem is not None:
            response = {"certificatePem": certificate_pem, **response}
        return response

    # ---- certificate ---------------------------------------------------------------------

    def _signed(self, certificate: Certificate | None) -> tuple[IssuedCertificate, str] | None:
        """Sign the CSR (outside the transaction: the CA's work, nothing written yet)."""
        if certificate is None or certificate.csr is None:
            return None
        ca = self.certificates.ca
        try:
            # the CSR's own subject is kept, CN included (PV-4); none: a unique one of ours
            common_name = ca.csr_common_name(certificate.csr) or placeholder_common_name()
            if common_name_problem(common_name) and not _plain_common_name(common_name):
                raise InvalidRequestException(
                    f"the CSR's common name {common_name!r} is reserved or not printable"
                )
            return ca.sign_csr(certificate.csr, common_name), common_name
        except CsrError as exc:
            raise InvalidRequestException(f"Invalid CSR: {exc}") from exc

    def _certificate(
        self, certificate: Certificate, signed: tuple[IssuedCertificate, str] | None
    ) -> tuple[str, str]:
        active = certificate.status != "INACTIVE"  # the guide: Status "Defaults to ACTIVE"
        if signed is not None:
            issued, common_name = signed
            self.certificates.record(issued, common_name, active)
            return arn.cert_arn(issued.certificate_id), issued.certificate_pem
        if certificate.certificate_pem is not None:
            return self._ca_signed(certificate)
        assert certificate.certificate_id is not None
        described = self.certificates.describe_certificate(certificate.certificate_id)
        description = described["certificateDescription"]
        if certificate.status is not None and description["status"] != certificate.status:
            self.certificates.update_certificate(certificate.certificate_id, certificate.status)
        return description["certificateArn"], description["certificatePem"]

    def _ca_signed(self, certificate: Certificate) -> tuple[str, str]:
        """CertificatePem: registered under the registered, ACTIVE CA that signed it (named by
        CACertificatePem when given), as RegisterCertificate does (A-7)."""
        assert certificate.certificate_pem is not None
        device = pem.load(certificate.certificate_pem, "CertificatePem")
        with self.store.write() as db:
            certificate_id = self.ca_registry.insert_ca_signed(
                db, device, certificate.ca_certificate_pem, certificate.status or "ACTIVE"
            )
        return arn.cert_arn(certificate_id), pem.pem_of(device)

    # ---- policy --------------------------------------------------------------------------

    def _policy(self, policy: Policy) -> str:
        if policy.document is None:  # an existing policy, by name
            self.policies.get_policy(policy.policy_name)  # ResourceNotFoundException if not
            return arn.policy_arn(policy.policy_name)
        try:  # named after its document's hash: the same document may have made it (PV-5)
            existing = self.policies.get_policy(policy.policy_name)
        except ResourceNotFoundException:
            self.policies.create_policy(policy.policy_name, policy.document)
            return arn.policy_arn(policy.policy_name)
        if existing["policyDocument"] != policy.document:
            raise ResourceAlreadyExistsException(
                f"Policy {policy.policy_name} already exists with another document"
            )
        return arn.policy_arn(policy.policy_name)

    # ---- thing ---------------------------------------------------------------------------

    def _thing(self, thing: Thing) -> str:
        attribute_payload = (
            {"attributes": thing.attributes} if thing.attributes is not None else None
        )
        if not self.registry.thing_exists(thing.thing_name):
            self.registry.create_thing(thing.thing_name, thing.thing_type_name, attribute_payload)
            for group in thing.thing_groups or []:
                self._add_to_group(group, thing.thing_name)
            return arn.thing_arn(thing.thing_name)
        self._override(thing)
        return arn.thing_arn(thing.thing_name)

    def _add_to_group(self, group: str, thing_name: str) -> None:
        try:
            self.registry.add_thing_to_thing_group(thing_group_name=group, thing_name=thing_name)
        except ResourceNotFoundException as exc:
            raise ResourceNotFoundException(
                f"{exc.message} (a template's ThingGroups must exist before provisioning)"
            ) from exc

    def _override(self, thing: Thing) -> None:
        """An existing thing: each property's OverrideSettings action; without one the thing
        is left as it is (DO_NOTHING, PV-6)."""
        current = self.registry.describe_thing(thing.thing_name)
        wanted = {
            "AttributePayload": thing.attributes,
            "ThingTypeName": thing.thing_type_name,
            "ThingGroups": thing.thing_groups,
        }
        for prop, value in wanted.items():
            action = thing.overrides.get(prop, "DO_NOTHING")
            if value is None or action == "DO_NOTHING":
                continue
            if action == "FAIL":
                raise ResourceConflictsException(
                    f"Thing {thing.thing_name} exists and OverrideSettings {prop} is FAIL"
                )
            if prop == "AttributePayload":
                assert isinstance(value, dict)
                payload = {"attributes": value, "merge": action == "MERGE"}
                self.registry.update_thing(thing.thing_name, attribute_payload=payload)
            elif prop == "ThingTypeName":
                assert isinstance(value, str)
                if current.get("thingTypeName") != value:
                    self.registry.update_thing(thing.thing_name, thing_type_name=value)
            else:
                assert isinstance(value, list)
                self._regroup(thing.thing_name, value, replace=action == "REPLACE")

    def _regroup(self, thing_name: str, groups: list[str], replace: bool) -> None:
        current = [  # the thing's own memberships (not their ancestors)
            row["group_name"]
            for row in self.store.read().execute(
                "SELECT group_name FROM thing_group_members WHERE thing_name = ?", (thing_name,)
            )
        ]
        if replace:
            for group in current:
                if group not in groups:
                    self.registry.remove_thing_from_thing_group(group, thing_name)
        for group in groups:
            if group not in current:
                self._add_to_group(group, thing_name)


def _plain_common_name(common_name: str) -> bool:
    """A CN a CSR may carry here (the workshop's is "Big Orchestra"): printable, not one of the
    cloud's own client names."""
    return (
        common_name not in RESERVED_COMMON_NAMES
        and 0 < len(common_name) <= 64
        and common_name.isprintable()
    )


def parameters_of(text: str) -> dict[str, str]:
    """A bulk input line's parameter set (JSON object of strings)."""
    try:
        parameters = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidRequestException(f"The line is not valid JSON: {exc}") from exc
    if not isinstance(parameters, dict) or not all(
        isinstance(v, str) for v in parameters.values()
    ):
        raise InvalidRequestException("The line must be a JSON object of string values")
    return parameters
