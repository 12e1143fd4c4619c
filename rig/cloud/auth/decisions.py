"""The policy decision for one connection: may this certificate connect with this client id, and
if so, what may the connection publish, subscribe to and receive.

Asked by the broker plugin (rig/broker_plugin/buttonrig_auth.c) at every CONNECT and again after
every auth change (rig/cloud/auth/plugin_server.py). As AWS IoT decides it:

* the certificate must be known and ACTIVE;
* its policies (attached to the certificate, plus those of the thing's groups) must allow
  `iot:Connect` on `client/<clientId>`, with the policy variables of this connection:
  `iot:ClientId` is the client id; `iot:Connection.Thing.*` is set when the client id names a
  thing attached to the certificate;
* the permissions are each matching statement's resources with those variables resolved, as
  AWS IoT policy globs (`*`, `?`), per action and effect; the plugin matches each message's
  topic ARN against them (an explicit deny wins), plus the reserved-topic rules.

The cloud's own clients (its service and readiness probe, certificates from the cloud's CA that
are not device certificates) get full rights.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rig.cloud.certificates.ca import ISSUER_COMMON_NAME
from rig.cloud.certificates.store import Certificates, subject_attributes
from rig.cloud.core import arn
from rig.cloud.policies.engine import (
    RESERVED_PATTERNS,
    WILDCARD_NAMESPACES,
    Glob,
    Policy,
    Principal,
    Wild,
    action_matches,
    authorize,
    parse_policy,
    reserved_topic_allowed,
    resolve_pattern,
    statement_applies,
)
from rig.cloud.policies.store import Policies
from rig.cloud.registry import Registry

# action -> (policy action, ARN resource kind)
ACTIONS = {
    "PUBLISH": ("iot:Publish", "topic"),
    "SUBSCRIBE": ("iot:Subscribe", "topicfilter"),
    "RECEIVE": ("iot:Receive", "topic"),
}


@dataclass(frozen=True)
class ConnectionDecision:
    allowed: bool
    reason: str
    full: bool = False  # the cloud's own client: everything
    # "PUBLISH_ALLOW", "PUBLISH_DENY", … -> encoded globs (see `encode_glob`)
    permissions: dict[str, list[str]] = field(default_factory=dict)


def encode_glob(pattern: Glob) -> str:
    """`*` and `?` are the wildcards; a literal `*`, `?` or backslash is escaped with `\\`
    (a policy variable's value is literal text, even a `*`)."""
    out: list[str] = []
    for token in pattern:
        if token is Wild.STAR:
            out.append("*")
        elif token is Wild.ONE:
            out.append("?")
        else:
            out.append("\\" + token if token in "*?\\" else token)
    return "".join(out)


class ConnectionDecider:
    """Decides from the database at each call: nothing is cached, so a change applies at once."""

    def __init__(
        self,
        registry: Registry,
        certificates: Certificates,
        policies: Policies,
        own_certificate_ids: Callable[[], set[str]],
        issuer_problem: Callable[[str], str | None] = lambda _certificate_id: None,
    ) -> None:
        self.registry = registry
        self.certificates = certificates
        self.policies = policies
        self.own_certificate_ids = own_certificate_ids
        # why the CA a certificate was registered under refuses it (rig/cloud/ca_registration)
        self.issuer_problem = issuer_problem

    def decide(self, certificate_id: str, client_id: str) -> ConnectionDecision:
        if certificate_id in self.own_certificate_ids():
            return ConnectionDecision(True, "the cloud's own client", full=True)
        row = self._row(certificate_id)
        if row is None:
            return ConnectionDecision(False, "unknown certificate")
        if row["status"] != "ACTIVE":
            return ConnectionDecision(False, f"certificate is {row['status']}")
        problem = self.issuer_problem(certificate_id)
        if problem is not None:
            return ConnectionDecision(False, problem)
        policies, principal = self.principal(certificate_id, client_id, row["pem"])
        decision = authorize(policies, "iot:Connect", arn.client_arn(client_id), principal)
        if not decision.allowed:
            return ConnectionDecision(
                False, f"iot:Connect on client/{client_id}: {decision.reason}"
            )
        return ConnectionDecision(
            True, decision.reason, permissions=_permissions(policies, principal)
        )

    def publish_allowed(self, certificate_id: str, client_id: str, topic: str) -> bool:
        """Whether this connection may publish on `topic` (e.g. its Last Will)."""
        decision = self.decide(certificate_id, client_id)
        if decision.full:
            return True
        row = self._row(certificate_id)
        if not decision.allowed or row is None or not reserved_topic_allowed(topic, "publish"):
            return False
        policies, principal = self.principal(certificate_id, client_id, row["pem"])
        return authorize(policies, "iot:Publish", arn.topic_arn(topic), principal).allowed

    def _row(self, certificate_id: str):
        return (
            self.certificates.store.read()
            .execute("SELECT * FROM certificates WHERE certificate_id = ?", (certificate_id,))
            .fetchone()
        )

    def principal(
        self, certificate_id: str, client_id: str, certificate_pem: str
    ) -> tuple[list[Policy], Principal]:
        """The certificate's policies (own + its thing's groups) and the policy principal."""
        principal_arn = arn.cert_arn(certificate_id)
        things = self.registry.things_of_principal(principal_arn)
        # iot:Connection.Thing.* is set when the client id names a thing attached to it
        thing_name = client_id if client_id in things else None
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
            client_id=client_id,
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


def _permissions(policies: Sequence[Policy], principal: Principal) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, (action, _kind) in ACTIONS.items():
        for effect in ("Allow", "Deny"):
            globs: list[str] = []
            for policy in policies:
                for statement in policy.statements:
                    if statement.effect != effect or not action_matches(statement, action):
                        continue
                    if not statement_applies(statement, principal):
                        continue
                    for resource in statement.resources:
                        resolved = resolve_pattern(resource, principal)
                        if resolved is not None:  # a variable without value matches nothing
                            globs.append(encode_glob(resolved))
            out[f"{name}_{effect.upper()}"] = list(dict.fromkeys(globs))
    out["RESERVED_PUBLISH"] = list(RESERVED_PATTERNS["publish"])
    out["RESERVED_SUBSCRIBE"] = list(RESERVED_PATTERNS["subscribe"])
    out["RESERVED_WILDCARD"] = list(WILDCARD_NAMESPACES)
    return out
