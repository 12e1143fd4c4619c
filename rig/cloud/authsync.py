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

import importlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from rig.cloud import arn
from rig.cloud.ca import CertificateAuthority
from rig.cloud.certificates import Certificates
from rig.cloud.policies import Policies
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
        try:  # the ACL renderer may not have landed yet: interim, see _interim
            acl: Any = importlib.import_module("rig.cloud.acl")
            policy: Any = importlib.import_module("rig.cloud.policy")
        except ImportError:
            return self._interim()
        acl_for, render_acl_file = acl.acl_for, acl.render_acl_file
        principal_type, authorize, parse_policy = (
            policy.Principal,
            policy.authorize,
            policy.parse_policy,
        )
        generation = self.registry.store.counter("auth_generation")
        blocks: list[Any] = []
        revoked: list[int] = []
        refused: dict[str, str] = {}
        approximations: list[str] = []
        for row in self.certificates.all_rows():
            certificate_id, common_name = row["certificate_id"], row["common_name"]
            principal_arn = arn.cert_arn(certificate_id)
            things = self.registry.things_of_principal(principal_arn)
            thing_name = common_name if common_name in things else None
            attributes: dict[str, str] = {}
            targets = [principal_arn]
            if thing_name is not None:
                described = self.registry.describe_thing(thing_name)
                attributes = dict(described.get("attributes", {}))
                targets += [
                    arn.thing_group_arn(g) for g in self.registry.groups_of_thing(thing_name)
                ]
            policies = [
                parse_policy(name, document)
                for name, document in self.policies.documents_for_targets(targets)
            ]
            principal = principal_type(
                client_id=common_name,
                thing_name=thing_name,
                certificate_id=certificate_id,
                subject={"CommonName": common_name},
                issuer={"CommonName": "buttonrig local IoT CA"},
                thing_attributes=attributes,
                region=arn.REGION,
                account=arn.ACCOUNT,
            )
            reason = ""
            if row["status"] != "ACTIVE":
                reason = f"certificate is {row['status']}"
            else:
                decision = authorize(
                    policies, "iot:Connect", arn.client_arn(common_name), principal
                )
                if not decision.allowed:
                    reason = f"iot:Connect denied for client/{common_name}: {decision.reason}"
            if reason:
                revoked.append(int(row["serial"]))
                refused[certificate_id] = reason
                continue
            result = acl_for(principal, policies, common_name)
            blocks.append(result)
            approximations += list(result.approximations)
        acl_text = render_acl_file(blocks, CLOUD_USER)
        return AuthSnapshot(
            generation=generation,
            acl_text=acl_text,
            crl_pem=self.ca.certificate_revocation_list(revoked),
            refused=refused,
            approximations=approximations,
        )

    def _interim(self) -> AuthSnapshot:
        """Until rig/cloud/policy.py and acl.py exist: an ACTIVE certificate with at least one
        policy may connect and use its own thing topics; everything else is refused."""
        generation = self.registry.store.counter("auth_generation")
        revoked: list[int] = []
        refused: dict[str, str] = {}
        lines = [
            f"user {CLOUD_USER}",
            "topic readwrite #",
            "topic readwrite $aws/#",
            "topic read $SYS/#",
            "",
        ]
        for row in self.certificates.all_rows():
            principal_arn = arn.cert_arn(row["certificate_id"])
            if row["status"] != "ACTIVE" or not self.policies.documents_for_targets(
                [principal_arn]
            ):
                revoked.append(int(row["serial"]))
                refused[row["certificate_id"]] = "inactive or no policy"
                continue
            name = row["common_name"]
            lines += [
                f"user {name}",
                f"topic readwrite $aws/things/{name}/#",
                f"topic write iotbutton/{name}",
                "",
            ]
        return AuthSnapshot(
            generation,
            "\n".join(lines) + "\n",
            self.ca.certificate_revocation_list(revoked),
            refused,
            ["interim ACL: the policy engine has not landed"],
        )


def describe(snapshot: AuthSnapshot) -> str:
    return json.dumps({"generation": snapshot.generation, "refused": snapshot.refused})
