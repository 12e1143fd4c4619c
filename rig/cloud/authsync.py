"""From registry + policies to what mosquitto enforces: the ACL file and the CRL.

For each certificate we build the policy principal (CN = client id; the thing attached to the
certificate whose name is that client id gives `iot:Connection.Thing.*`), gather its policies
(attached to the certificate, plus those of the thing's groups and their ancestors), and:

* put it on the CRL unless it is ACTIVE and its policies allow `iot:Connect` on `client/<CN>`
  (mosquitto cannot refuse a CONNECT by policy, but it refuses a revoked certificate);
* render its ACL block from the policies (rig/cloud/acl.py).

The cloud's own clients get their ACL from `render_acl_file`'s cloud user block.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from rig.cloud import arn
from rig.cloud.acl import AclResult, acl_for, intersect_results, render_acl_file
from rig.cloud.ca import ISSUER_COMMON_NAME, CertificateAuthority
from rig.cloud.certificates import Certificates
from rig.cloud.policies import Policies
from rig.cloud.policy import Policy, Principal, authorize, parse_policy
from rig.cloud.registry import Registry

log = logging.getLogger(__name__)
CLOUD_USER = "buttonrig-cloud"
PROBE_USER = "buttonrig-probe"


@dataclass
class AuthSnapshot:
    """Everything the broker needs, computed at one generation of the auth counter."""

    generation: int
    acl_text: str
    crl_pem: bytes
    refused: dict[str, str] = field(default_factory=dict)  # certificate id -> why
    approximations: list[str] = field(default_factory=list)


class AuthCompiler:
    """Compiles the ACL and the CRL from the database."""

    def __init__(
        self,
        registry: Registry,
        certificates: Certificates,
        policies: Policies,
        ca: CertificateAuthority,
    ) -> None:
        self.registry = registry
        self.certificates = certificates
        self.policies = policies
        self.ca = ca

    def compile(self) -> AuthSnapshot:
        generation = self.registry.store.counter("auth_generation")
        # Connections already open stay usable after their certificate stops being allowed to
        # connect (UpdateCertificate: "will not disconnect currently connected devices"), so such
        # certificates keep an ACL block, unless a usable certificate has the same CN.
        usable: dict[str, AclResult] = {}
        lingering: dict[str, AclResult] = {}
        revoked: list[int] = []
        refused: dict[str, str] = {}
        approximations: list[str] = []
        for row in self.certificates.all_rows():
            certificate_id, common_name = row["certificate_id"], row["common_name"]
            policies, principal = self._principal(certificate_id, common_name)
            reason = ""
            if row["status"] != "ACTIVE":
                reason = f"certificate is {row['status']}"
            else:
                decision = authorize(
                    policies, "iot:Connect", arn.client_arn(common_name), principal
                )
                if not decision.allowed:
                    reason = f"iot:Connect denied for client/{common_name}: {decision.reason}"
            try:
                result = acl_for(principal, policies, common_name)
            except ValueError as exc:  # e.g. a CN from a CSR that an ACL cannot name
                result, reason = None, reason or f"cannot be expressed in the broker ACL: {exc}"
            if reason:
                revoked.append(int(row["serial"]))
                refused[certificate_id] = reason
            if result is None:
                continue
            blocks = lingering if reason else usable
            if common_name in blocks:  # several certificates, one client id: never broader
                result = intersect_results(blocks[common_name], result)
                approximations.append(
                    f"{common_name}: several certificates share this CN; the ACL keeps only"
                    " what all of them allow"
                )
            blocks[common_name] = result
        for name, block in lingering.items():
            usable.setdefault(name, block)
        for block in usable.values():
            approximations += list(block.approximations)
        return AuthSnapshot(
            generation=generation,
            acl_text=render_acl_file(usable.values(), CLOUD_USER),
            crl_pem=self.ca.certificate_revocation_list(revoked),
            refused=refused,
            approximations=approximations,
        )

    def _principal(self, certificate_id: str, common_name: str) -> tuple[list[Policy], Principal]:
        """The certificate's policies (own + its thing's groups) and the policy principal."""
        principal_arn = arn.cert_arn(certificate_id)
        things = self.registry.things_of_principal(principal_arn)
        # iot:Connection.Thing.* is set when the client id names a thing attached to it
        thing_name = common_name if common_name in things else None
        attributes: dict[str, str] = {}
        type_name: str | None = None
        targets = [principal_arn]
        if thing_name is not None:
            described = self.registry.describe_thing(thing_name)
            attributes = dict(described.get("attributes", {}))
            type_name = described.get("thingTypeName")
            targets += [arn.thing_group_arn(g) for g in self.registry.groups_of_thing(thing_name)]
        policies = [
            parse_policy(name, document)
            for name, document in self.policies.documents_for_targets(targets)
        ]
        principal = Principal(
            client_id=common_name,
            thing_name=thing_name,
            certificate_id=certificate_id,
            subject={"CommonName": common_name},
            issuer={"CommonName": ISSUER_COMMON_NAME},
            thing_attributes=attributes,
            region=arn.REGION,
            account=arn.ACCOUNT,
            thing_type_name=type_name,
        )
        return policies, principal


def describe(snapshot: AuthSnapshot) -> str:
    return json.dumps({"generation": snapshot.generation, "refused": snapshot.refused})
