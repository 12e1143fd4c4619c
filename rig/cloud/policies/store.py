"""Named IoT policies (with versions) and their attachments to certificates and thing groups."""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any

from rig.cloud.core import arn, events
from rig.cloud.core.errors import (
    DeleteConflictException,
    InvalidRequestException,
    LimitExceededException,
    MalformedPolicyException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
)
from rig.cloud.core.store import Store
from rig.cloud.policies.engine import PolicyError, parse_policy

POLICY_NAME = re.compile(r"[\w+=,.@-]{1,128}")
MAX_DOCUMENT_CHARS = 2048  # "excluding whitespace"
MAX_VERSIONS = 5
MAX_POLICIES_PER_GROUP = 2


def validate_document(name: str, document: str) -> None:
    """Raise MalformedPolicyException unless the policy engine accepts the document."""
    if len(re.sub(r"\s", "", document)) > MAX_DOCUMENT_CHARS:
        raise MalformedPolicyException(
            f"policyDocument is longer than {MAX_DOCUMENT_CHARS} characters (whitespace excluded)"
        )
    try:
        parse_policy(name, document)
    except PolicyError as exc:
        raise MalformedPolicyException(f"The policy document is not valid: {exc}") from exc


# Component `policies` of the cloud database (rig/cloud/core/store.py). `IF NOT EXISTS`: a
# database from before the split into services has these tables under `core` already.
POLICIES_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS policies (
        name TEXT PRIMARY KEY, default_version INTEGER NOT NULL, created_ms INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS policy_versions (
        name TEXT NOT NULL REFERENCES policies ON DELETE CASCADE, version INTEGER NOT NULL,
        document TEXT NOT NULL, created_ms INTEGER NOT NULL, PRIMARY KEY (name, version));
    CREATE TABLE IF NOT EXISTS policy_targets (
        policy_name TEXT NOT NULL, target TEXT NOT NULL, PRIMARY KEY (policy_name, target));
    """,
)


class Policies:
    """CreatePolicy, GetPolicy, versions, AttachPolicy/DetachPolicy, ListAttachedPolicies."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.migrate("policies", POLICIES_MIGRATIONS)

    def _policy(self, db: sqlite3.Connection, name: str) -> sqlite3.Row:
        row = db.execute("SELECT * FROM policies WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise ResourceNotFoundException(f"Policy {name} cannot be found.")
        return row

    def create_policy(self, policy_name: str, policy_document: str) -> dict[str, Any]:
        if not isinstance(policy_name, str) or not POLICY_NAME.fullmatch(policy_name):
            raise InvalidRequestException(
                f"policyName {policy_name!r} is invalid: 1-128 characters from [\\w+=,.@-]"
            )
        validate_document(policy_name, policy_document)
        with self.store.write() as db:
            if db.execute("SELECT 1 FROM policies WHERE name = ?", (policy_name,)).fetchone():
                raise ResourceAlreadyExistsException(f"Policy {policy_name} already exists")
            now = events.now_ms()
            db.execute(
                "INSERT INTO policies (name, default_version, created_ms) VALUES (?, 1, ?)",
                (policy_name, now),
            )
            db.execute(
                "INSERT INTO policy_versions (name, version, document, created_ms)"
                " VALUES (?, 1, ?, ?)",
                (policy_name, policy_document, now),
            )
        return {
            "policyName": policy_name,
            "policyArn": arn.policy_arn(policy_name),
            "policyDocument": policy_document,
            "policyVersionId": "1",
        }

    def create_policy_version(
        self, policy_name: str, policy_document: str, set_as_default: bool = False
    ) -> dict[str, Any]:
        validate_document(policy_name, policy_document)
        with self.store.write() as db:
            self._policy(db, policy_name)
            versions = db.execute(
                "SELECT version FROM policy_versions WHERE name = ?", (policy_name,)
            ).fetchall()
            if len(versions) >= MAX_VERSIONS:
                raise LimitExceededException(
                    f"Policy {policy_name} already has {MAX_VERSIONS} versions"
                    " (VersionsLimitExceededException)"
                )
            version = max(r["version"] for r in versions) + 1
            db.execute(
                "INSERT INTO policy_versions (name, version, document, created_ms)"
                " VALUES (?, ?, ?, ?)",
                (policy_name, version, policy_document, events.now_ms()),
            )
            if set_as_default:
                db.execute(
                    "UPDATE policies SET default_version = ? WHERE name = ?",
                    (version, policy_name),
                )
                self.store.bump(db, "auth_generation")
        return {
            "policyArn": arn.policy_arn(policy_name),
            "policyDocument": policy_document,
            "policyVersionId": str(version),
            "isDefaultVersion": set_as_default,
        }

    def get_policy(self, policy_name: str) -> dict[str, Any]:
        db = self.store.read()
        row = self._policy(db, policy_name)
        version = db.execute(
            "SELECT * FROM policy_versions WHERE name = ? AND version = ?",
            (policy_name, row["default_version"]),
        ).fetchone()
        return {
            "policyName": policy_name,
            "policyArn": arn.policy_arn(policy_name),
            "policyDocument": version["document"],
            "defaultVersionId": str(row["default_version"]),
            "creationDate": row["created_ms"] / 1000.0,
            "lastModifiedDate": version["created_ms"] / 1000.0,
            "generationId": f"{row['created_ms']}-{row['default_version']}",
        }

    def list_policies(self) -> dict[str, Any]:
        rows = self.store.read().execute("SELECT name FROM policies ORDER BY name").fetchall()
        return {
            "policies": [
                {"policyName": r["name"], "policyArn": arn.policy_arn(r["name"])} for r in rows
            ]
        }

    def delete_policy(self, policy_name: str) -> dict[str, Any]:
        with self.store.write() as db:
            row = self._policy(db, policy_name)
            # "A policy cannot be deleted if it has non-default versions or it is attached to
            # any certificate" (API reference DeletePolicy): attachments to thing groups go
            # with the policy (the workshop's clean-up deletes SmartBuilding_Policy attached to
            # its group, docs/cloud-decisions.md P-13)
            if db.execute(
                "SELECT 1 FROM policy_targets WHERE policy_name = ? AND target LIKE ?",
                (policy_name, arn.cert_arn("%")),
            ).fetchone():
                raise DeleteConflictException(
                    f"Policy {policy_name} is attached to one or more certificates: detach it"
                    " first"
                )
            others = db.execute(
                "SELECT 1 FROM policy_versions WHERE name = ? AND version != ?",
                (policy_name, row["default_version"]),
            ).fetchone()
            if others:
                raise DeleteConflictException(
                    f"Policy {policy_name} has non-default versions: delete them first"
                )
            grouped = db.execute(
                "DELETE FROM policy_targets WHERE policy_name = ?", (policy_name,)
            ).rowcount
            db.execute("DELETE FROM policies WHERE name = ?", (policy_name,))
            if grouped:  # the group members' connections lose what it allowed
                self.store.bump(db, "auth_generation")
        return {}

    def _check_target(self, db: sqlite3.Connection, target: str) -> None:
        certificate_id = arn.resource_name(target, "cert")
        if certificate_id is not None:
            if not db.execute(
                "SELECT 1 FROM certificates WHERE certificate_id = ?", (certificate_id,)
            ).fetchone():
                raise ResourceNotFoundException(f"Certificate {certificate_id} cannot be found.")
            return
        group = arn.resource_name(target, "thinggroup")
        if group is not None:
            row = db.execute(
                "SELECT query_string FROM thing_groups WHERE name = ?", (group,)
            ).fetchone()
            if row is None:
                raise ResourceNotFoundException(f"Thing group {group} cannot be found.")
            if row["query_string"] is not None:  # guide, "Dynamic thing groups"
                raise InvalidRequestException(
                    f"Thing group {group} is a dynamic thing group: policies cannot be attached"
                    " to dynamic thing groups"
                )
            attached = db.execute(
                "SELECT COUNT(*) FROM policy_targets WHERE target = ?", (target,)
            ).fetchone()[0]
            if attached >= MAX_POLICIES_PER_GROUP:
                raise LimitExceededException(
                    "The number of attached entities exceeds the limit."
                    f" (a thing group takes at most {MAX_POLICIES_PER_GROUP} policies)"
                )
            return
        raise InvalidRequestException(
            f"target {target!r} is neither a certificate ARN nor a thing group ARN of this account"
        )

    def attach_policy(self, policy_name: str, target: str) -> dict[str, Any]:
        with self.store.write() as db:
            self._policy(db, policy_name)
            if db.execute(
                "SELECT 1 FROM policy_targets WHERE policy_name = ? AND target = ?",
                (policy_name, target),
            ).fetchone():
                return {}
            self._check_target(db, target)
            db.execute(
                "INSERT INTO policy_targets (policy_name, target) VALUES (?, ?)",
                (policy_name, target),
            )
            self.store.bump(db, "auth_generation")
        return {}

    def detach_policy(self, policy_name: str, target: str) -> dict[str, Any]:
        with self.store.write() as db:
            self._policy(db, policy_name)
            db.execute(
                "DELETE FROM policy_targets WHERE policy_name = ? AND target = ?",
                (policy_name, target),
            )
            self.store.bump(db, "auth_generation")
        return {}

    def list_attached_policies(self, target: str) -> dict[str, Any]:
        rows = self.store.read().execute(
            "SELECT policy_name FROM policy_targets WHERE target = ? ORDER BY policy_name",
            (target,),
        )
        return {
            "policies": [
                {"policyName": r["policy_name"], "policyArn": arn.policy_arn(r["policy_name"])}
                for r in rows.fetchall()
            ]
        }

    def documents_for_targets(self, targets: list[str]) -> list[tuple[str, str]]:
        """(policy name, default-version document) for every policy attached to any target."""
        if not targets:
            return []
        marks = ",".join("?" * len(targets))
        rows = self.store.read().execute(
            "SELECT DISTINCT p.name AS name, v.document AS document FROM policy_targets t"
            " JOIN policies p ON p.name = t.policy_name"
            " JOIN policy_versions v ON v.name = p.name AND v.version = p.default_version"
            f" WHERE t.target IN ({marks}) ORDER BY p.name",
            targets,
        )
        return [(r["name"], r["document"]) for r in rows.fetchall()]


def document_text(document: str | dict[str, Any]) -> str:
    return document if isinstance(document, str) else json.dumps(document)
