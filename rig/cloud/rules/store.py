"""Topic rules in the cloud's database (component `rules`) and their control-plane operations
(CreateTopicRule, GetTopicRule, ListTopicRules, ReplaceTopicRule, Enable/DisableTopicRule,
DeleteTopicRule), with the AWS IoT API's shapes and errors.

A rule is checked whole before anything is stored: its SQL parses (SqlParseException), its
actions are ones the local cloud runs (republish, lambda; R-2) with their required members, and
every `${…}` template in them parses. Each change bumps the `rules_generation` counter: the
running rules engine (maybe in another process than the CLI that changed it) reloads then.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rig.cloud.core import arn
from rig.cloud.core.errors import (
    CloudError,
    InvalidRequestException,
    ResourceAlreadyExistsException,
    UnauthorizedException,
)
from rig.cloud.core.events import now_ms
from rig.cloud.core.store import Store
from rig.cloud.rules import sql
from rig.cloud.rules.evaluate import check_template

RULES_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE topic_rules (
        name TEXT PRIMARY KEY, rule TEXT NOT NULL, created_ms INTEGER NOT NULL);
    """,
)
GENERATION = "rules_generation"
_NAME = re.compile(r"^[a-zA-Z0-9_]{1,128}$")
SQL_VERSIONS = ("2015-10-08", "2016-03-23", "beta")
ACTION_MEMBERS = {  # the local actions and their required members (AWS IoT API shapes)
    "republish": ("topic", "roleArn"),
    "lambda": ("functionArn",),
}
MAX_ACTIONS = 10


class SqlParseException(CloudError):
    code, http_status = "SqlParseException", 400


def rule_arn(name: str) -> str:
    return f"arn:aws:iot:{arn.REGION}:{arn.ACCOUNT}:rule/{name}"


def check_payload(payload: Any) -> dict[str, Any]:
    """The topicRulePayload as stored (defaults filled in), or the API's error."""
    if not isinstance(payload, dict):
        raise InvalidRequestException("topicRulePayload must be a JSON object")
    unknown = set(payload) - {
        "sql",
        "description",
        "actions",
        "ruleDisabled",
        "awsIotSqlVersion",
        "errorAction",
    }
    if unknown:
        raise InvalidRequestException(f"Unknown members in topicRulePayload: {sorted(unknown)}")
    text = payload.get("sql")
    if not isinstance(text, str):
        raise InvalidRequestException("topicRulePayload.sql is required (a string)")
    try:
        sql.parse(text)
    except sql.SqlError as exc:
        raise SqlParseException(f"Expression: {text} ... {exc}") from exc
    actions = payload.get("actions")
    if not isinstance(actions, list) or len(actions) > MAX_ACTIONS:
        raise InvalidRequestException(
            f"topicRulePayload.actions is required: a list of at most {MAX_ACTIONS} actions"
        )
    for action in actions:
        _check_action(action, "actions")
    if "errorAction" in payload and payload["errorAction"] is not None:
        _check_action(payload["errorAction"], "errorAction")
    version = payload.get("awsIotSqlVersion", "2015-10-08")
    if version not in SQL_VERSIONS:
        raise InvalidRequestException(
            f"awsIotSqlVersion must be one of {', '.join(SQL_VERSIONS)}, got {version!r}"
        )
    disabled = payload.get("ruleDisabled", False)
    if not isinstance(disabled, bool):
        raise InvalidRequestException("ruleDisabled must be a boolean")
    description = payload.get("description", "")
    if not isinstance(description, str):
        raise InvalidRequestException("description must be a string")
    checked = {
        "sql": text,
        "description": description,
        "actions": actions,
        "ruleDisabled": disabled,
        "awsIotSqlVersion": version,
    }
    if payload.get("errorAction") is not None:
        checked["errorAction"] = payload["errorAction"]
    return checked


def _check_action(action: Any, where: str) -> None:
    if not isinstance(action, dict) or len(action) != 1:
        raise InvalidRequestException(f"{where}: each action is an object with one action key")
    kind, members = next(iter(action.items()))
    required = ACTION_MEMBERS.get(kind)
    if required is None:
        raise InvalidRequestException(
            f"{where}: the {kind} action is not run by the local cloud; it runs"
            f" {' and '.join(ACTION_MEMBERS)} actions"
        )
    if not isinstance(members, dict):
        raise InvalidRequestException(f"{where}: {kind} must be an object")
    for member in required:
        if not isinstance(members.get(member), str) or not members[member]:
            raise InvalidRequestException(f"{where}: {kind}.{member} is required")
    if kind == "republish":
        qos = members.get("qos", 0)
        if qos not in (0, 1):
            raise InvalidRequestException(f"{where}: republish.qos must be 0 or 1")
        try:
            check_template(members["topic"])
        except sql.SqlError as exc:
            raise InvalidRequestException(f"{where}: republish.topic: {exc}") from exc


class TopicRules:
    def __init__(self, store: Store) -> None:
        self.store = store
        store.migrate("rules", RULES_MIGRATIONS)

    def create_topic_rule(self, rule_name: str, topic_rule_payload: Any) -> dict[str, Any]:
        _check_name(rule_name)
        rule = check_payload(_payload(topic_rule_payload))
        with self.store.write() as db:
            exists = db.execute("SELECT 1 FROM topic_rules WHERE name = ?", (rule_name,))
            if exists.fetchone():
                raise ResourceAlreadyExistsException(f"Rule {rule_name} already exists")
            db.execute(
                "INSERT INTO topic_rules (name, rule, created_ms) VALUES (?, ?, ?)",
                (rule_name, json.dumps(rule), now_ms()),
            )
            self.store.bump(db, GENERATION)
        return {}

    def replace_topic_rule(self, rule_name: str, topic_rule_payload: Any) -> dict[str, Any]:
        _check_name(rule_name)
        rule = check_payload(_payload(topic_rule_payload))
        self._change(rule_name, lambda _old: rule)
        return {}

    def enable_topic_rule(self, rule_name: str) -> dict[str, Any]:
        self._change(rule_name, lambda old: {**old, "ruleDisabled": False})
        return {}

    def disable_topic_rule(self, rule_name: str) -> dict[str, Any]:
        self._change(rule_name, lambda old: {**old, "ruleDisabled": True})
        return {}

    def delete_topic_rule(self, rule_name: str) -> dict[str, Any]:
        with self.store.write() as db:
            if db.execute("DELETE FROM topic_rules WHERE name = ?", (rule_name,)).rowcount == 0:
                raise _missing(rule_name)
            self.store.bump(db, GENERATION)
        return {}

    def get_topic_rule(self, rule_name: str) -> dict[str, Any]:
        row = (
            self.store.read()
            .execute("SELECT rule, created_ms FROM topic_rules WHERE name = ?", (rule_name,))
            .fetchone()
        )
        if row is None:
            raise _missing(rule_name)
        rule = json.loads(row["rule"])
        shown = {"ruleName": rule_name, **rule, "createdAt": row["created_ms"] / 1000.0}
        return {"ruleArn": rule_arn(rule_name), "rule": shown}

    def list_topic_rules(
        self, topic: str | None = None, rule_disabled: bool | None = None, **_ignored: Any
    ) -> dict[str, Any]:
        listed = []
        for name, rule, created_ms in self.rules():
            source = sql.parse(rule["sql"]).source
            if topic is not None and source != topic:
                continue
            if rule_disabled is not None and rule["ruleDisabled"] != rule_disabled:
                continue
            listed.append(
                {
                    "ruleArn": rule_arn(name),
                    "ruleName": name,
                    "topicPattern": source,
                    "createdAt": created_ms / 1000.0,
                    "ruleDisabled": rule["ruleDisabled"],
                }
            )
        return {"rules": listed}

    def rules(self) -> list[tuple[str, dict[str, Any], int]]:
        rows = self.store.read().execute(
            "SELECT name, rule, created_ms FROM topic_rules ORDER BY name"
        )
        return [(row[0], json.loads(row[1]), row[2]) for row in rows]

    def generation(self) -> int:
        return self.store.counter(GENERATION)

    def _change(self, rule_name: str, change: Any) -> None:
        with self.store.write() as db:
            row = db.execute("SELECT rule FROM topic_rules WHERE name = ?", (rule_name,))
            found = row.fetchone()
            if found is None:
                raise _missing(rule_name)
            rule = change(json.loads(found[0]))
            db.execute(
                "UPDATE topic_rules SET rule = ? WHERE name = ?", (json.dumps(rule), rule_name)
            )
            self.store.bump(db, GENERATION)


def _payload(value: Any) -> Any:
    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise InvalidRequestException(f"topicRulePayload is not JSON: {exc}") from exc
    return value


def _check_name(rule_name: str) -> None:
    if not isinstance(rule_name, str) or not _NAME.match(rule_name):
        raise InvalidRequestException(
            f"1 validation error detected: Value '{rule_name}' at 'ruleName' failed to satisfy"
            " constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9_]+$"
            " (length 1 to 128)"
        )


def _missing(rule_name: str) -> CloudError:
    # GetTopicRule/DeleteTopicRule list no ResourceNotFoundException: AWS answers
    # UnauthorizedException for a rule that is not there
    return UnauthorizedException(f"Rule {rule_name} does not exist")
