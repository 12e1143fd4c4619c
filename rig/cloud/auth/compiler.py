"""From registry + policies to what mosquitto enforces: the ACL file and the CRL.

For each certificate we build the policy principal (CN = client id; the thing attached to the
certificate whose name is that client id gives `iot:Connection.Thing.*`), gather its policies
(attached to the certificate, plus those of the thing's groups and their ancestors), and:

* put it on the CRL unless it is ACTIVE and its policies allow `iot:Connect` on `client/<CN>`
  (mosquitto cannot refuse a CONNECT by policy, but it refuses a revoked certificate);
* render its ACL block from the policies (rig/cloud/auth/acl.py);
* keep its policies and principal, so the enforcer can judge each SUBSCRIBE the broker logs
  (mosquitto grants every SUBSCRIBE; AWS IoT disconnects a client for an unauthorised one).

A certificate whose CN our broker cannot use (a reserved name such as the cloud's own client id,
or not a client id; a database from before `certificates.common_name_problem` existed may hold
one) goes on the CRL and gets no ACL block: one bad certificate never stops the others' ACL.
The cloud's own clients get their ACL from `render_acl_file`'s cloud user block.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field

from rig.cloud.auth.acl import AclResult, acl_for, intersect_results, render_acl_file
from rig.cloud.certificates.ca import ISSUER_COMMON_NAME, CertificateAuthority
from rig.cloud.certificates.store import (
    CLOUD_USER,
    PROBE_USER,
    Certificates,
    common_name_problem,
    subject_attributes,
)
from rig.cloud.core import arn
from rig.cloud.policies.engine import (
    Policy,
    Principal,
    authorize,
    parse_policy,
    reserved_topic_allowed,
)
from rig.cloud.policies.store import Policies
from rig.cloud.registry import Registry

__all__ = ["CLOUD_USER", "PROBE_USER", "AuthCompiler", "AuthSnapshot", "ClientRules"]
log = logging.getLogger(__name__)
PRESENCE_LAG_MS = 2000


@dataclass(frozen=True)
class ClientRules:
    """Who may subscribe to and publish what: for each client id (CN), the policies and principal
    of every certificate with that CN that may be connected. A filter or topic is allowed only if
    all allow it, the same intersection the ACL makes."""

    by_client: dict[str, list[tuple[list[Policy], Principal]]] = field(default_factory=dict)

    def refusal(self, client_id: str, topic_filter: str, qos: int) -> str | None:
        """Why AWS IoT would refuse this SUBSCRIBE (and disconnect the client); None if not."""
        if qos > 1:
            return f"SUBSCRIBE {topic_filter!r} at QoS {qos}: AWS IoT supports QoS 0 and 1"
        if not reserved_topic_allowed(topic_filter, "subscribe"):
            return f"SUBSCRIBE {topic_filter!r}: a reserved topic devices may not subscribe to"
        certificates = self.by_client.get(client_id)
        if certificates is None:
            return f"SUBSCRIBE {topic_filter!r}: no certificate for client id {client_id!r}"
        resource = arn.topicfilter_arn(topic_filter)
        for policies, principal in certificates:
            decision = authorize(policies, "iot:Subscribe", resource, principal)
            if not decision.allowed:
                return f"SUBSCRIBE {topic_filter!r}: {decision.reason}"
        return None

    def publish_allowed(self, client_id: str, topic: str) -> bool:
        """Whether the broker lets `client_id` publish on `topic` (e.g. its Last Will)."""
        certificates = self.by_client.get(client_id)
        if not certificates or not reserved_topic_allowed(topic, "publish"):
            return False
        resource = arn.topic_arn(topic)
        return all(
            authorize(policies, "iot:Publish", resource, principal).allowed
            for policies, principal in certificates
        )


@dataclass
class AuthSnapshot:
    """Everything the broker needs, computed at one generation of the auth counter."""

    generation: int
    acl_text: str
    crl_pem: bytes
    refused: dict[str, str] = field(default_factory=dict)  # certificate id -> why
    approximations: list[str] = field(default_factory=list)
    client_rules: ClientRules = field(default_factory=ClientRules)
    # client id -> its presence row (connected, changed_ms) when compiled, for every client id
    # with a refused certificate: a change there can change the ACL (see `_may_be_in_use`)
    presence_watched: dict[str, tuple[bool, int] | None] = field(default_factory=dict)


class AuthCompiler:
    """Compiles the ACL and the CRL from the database."""

    def __init__(
        self,
        registry: Registry,
        certificates: Certificates,
        policies: Policies,
        ca: CertificateAuthority,
        presence: Callable[[str], tuple[bool, int] | None],
    ) -> None:
        """`presence(client_id)`: (connected, since when in ms) as the cloud last saw it, or
        None (rig/cloud/lifecycle/store.py; passed in, the auth service does not own it)."""
        self.registry = registry
        self.presence = presence
        self.certificates = certificates
        self.policies = policies
        self.ca = ca

    def compile(self) -> AuthSnapshot:
        generation = self.registry.store.counter("auth_generation")
        # Connections already open stay usable after their certificate stops being allowed to
        # connect (UpdateCertificate: "will not disconnect currently connected devices"), so such
        # a certificate keeps an ACL block while a connection that may use it is open. Several
        # certificates with one CN share one client id and so one ACL user: its block is what
        # all of them allow (never broader than any).
        blocks: dict[str, AclResult] = {}
        presence_watched: dict[str, tuple[bool, int] | None] = {}
        subscribers: dict[str, list[tuple[list[Policy], Principal]]] = {}
        revoked: list[int] = []
        refused: dict[str, str] = {}
        approximations: list[str] = []
        for row in self.certificates.all_rows():
            certificate_id, common_name = row["certificate_id"], row["common_name"]
            unusable = common_name_problem(common_name)
            if unusable is not None:
                revoked.append(int(row["serial"]))
                refused[certificate_id] = unusable
                continue
            policies, principal = self._principal(certificate_id, common_name, row["pem"])
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
                result: AclResult | None = acl_for(principal, policies, common_name)
            except ValueError as exc:  # e.g. a policy resource an ACL line cannot hold
                result, reason = None, reason or f"cannot be expressed in the broker ACL: {exc}"
            if reason:
                revoked.append(int(row["serial"]))
                refused[certificate_id] = reason
                presence = self.presence(common_name)
                presence_watched[common_name] = presence
                if not _may_be_in_use(row, presence):
                    continue
            if result is None:
                continue
            subscribers.setdefault(common_name, []).append((policies, principal))
            if common_name in blocks:
                result = intersect_results(blocks[common_name], result)
                approximations.append(
                    f"{common_name}: several certificates share this CN; the ACL keeps only"
                    " what all of them allow"
                )
            blocks[common_name] = result
        for block in blocks.values():
            approximations += list(block.approximations)
        return AuthSnapshot(
            generation=generation,
            acl_text=render_acl_file(blocks.values(), CLOUD_USER),
            crl_pem=self.ca.certificate_revocation_list(revoked),
            refused=refused,
            approximations=approximations,
            client_rules=ClientRules(subscribers),
            presence_watched=presence_watched,
        )

    def _principal(
        self, certificate_id: str, common_name: str, certificate_pem: str
    ) -> tuple[list[Policy], Principal]:
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
            subject=subject_attributes(certificate_pem),
            issuer={"CommonName": ISSUER_COMMON_NAME},
            thing_attributes=attributes,
            region=arn.REGION,
            account=arn.ACCOUNT,
            thing_type_name=type_name,
        )
        return policies, principal


def _may_be_in_use(row: sqlite3.Row, presence: tuple[bool, int] | None) -> bool:
    """Whether an open connection may use this refused certificate: its client id is connected,
    and (for an INACTIVE or REVOKED one) has been since before the status changed. A connection
    made later cannot use it: the broker refuses it on the CRL. (An ACTIVE certificate refused
    by policy has no such time: any open connection of its client id counts.)

    The service records a connect when mosquitto's log line reaches it, a few ms after the
    CONNACK, so a connect recorded up to PRESENCE_LAG_MS after the change still counts: keeping
    the block only narrows what the client id may do, never widens it."""
    if presence is None or not presence[0]:
        return False
    return row["status"] == "ACTIVE" or presence[1] <= int(row["modified_ms"]) + PRESENCE_LAG_MS


def describe(snapshot: AuthSnapshot) -> str:
    return json.dumps({"generation": snapshot.generation, "refused": snapshot.refused})
