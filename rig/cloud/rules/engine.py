"""The rules engine: a message on a rule's topic filter → its SQL → its actions (pure of
stores and MQTT: it is given a way to publish and a function invoker).

As the guide's "Rule Error Handling": WHERE first; when it holds, every action runs with the
SELECT's result; actions that fail are not retried, and the rule's errorAction (if any) gets
one message per rule and message listing every failure (ruleName, topic, cloudwatchTraceId,
clientId, base64OriginalPayload, failures[{failedAction, failedResource, errorMessage}]).
The actions run locally: `republish` (its topic a `${…}` template, QoS 0 unless it says 1) and
`lambda` (an asynchronous invocation through the FunctionInvoker).
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from rig.cloud.rules import sql
from rig.cloud.rules.evaluate import run, substitute
from rig.cloud.rules.functions import Message

log = logging.getLogger(__name__)
Publish = Callable[[str, bytes, int], None]  # (topic, payload, qos)
ACTION_NAMES = {"republish": "RepublishAction", "lambda": "LambdaAction"}


class Invoker(Protocol):
    """rig.cloud.functions.FunctionInvoker, as this service sees it (structural: the two
    services do not import each other)."""

    def invoke_event(self, function_arn: str, event: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Rule:
    """A stored rule, parsed once."""

    name: str
    query: sql.Query
    actions: tuple[dict[str, Any], ...]
    error_action: dict[str, Any] | None
    disabled: bool

    @property
    def topic_filter(self) -> str:
        return str(self.query.source)

    @classmethod
    def from_stored(cls, name: str, rule: dict[str, Any]) -> Rule:
        return cls(
            name,
            sql.parse(rule["sql"]),
            tuple(rule.get("actions", ())),
            rule.get("errorAction"),
            bool(rule.get("ruleDisabled", False)),
        )


@dataclass(frozen=True)
class Failure:
    action: str
    resource: str
    message: str

    def shape(self) -> dict[str, str]:
        return {
            "failedAction": self.action,
            "failedResource": self.resource,
            "errorMessage": self.message,
        }


class RulesEngine:
    def __init__(self, publish: Publish, invoker: Invoker) -> None:
        self.publish = publish
        self.invoker = invoker

    def apply(self, rule: Rule, message: Message) -> list[Failure]:
        """Run one rule on one message; the failures of its actions (already reported to the
        error action, if the rule has one)."""
        if rule.disabled:
            return []
        try:
            fired = run(rule.query, message)
        except Exception:  # the SQL met a value it cannot take: the rule does not fire
            log.exception("rule %s: evaluating on %s failed", rule.name, message.topic)
            return []
        if fired is None:
            return []
        log.info("rule %s matched %s", rule.name, message.topic)
        failures = [
            failure
            for action in rule.actions
            if (failure := self._act(action, fired.result, message)) is not None
        ]
        if failures:
            for failure in failures:
                log.warning(
                    "rule %s: %s on %s failed: %s",
                    rule.name,
                    failure.action,
                    failure.resource,
                    failure.message,
                )
            if rule.error_action is not None:
                report = error_message(rule.name, message, failures)
                failed = self._act(rule.error_action, report, message)
                if failed is not None:
                    log.warning("rule %s: its errorAction failed too: %s", rule.name, failed)
        return failures

    def _act(self, action: dict[str, Any], result: Any, message: Message) -> Failure | None:
        kind, members = next(iter(action.items()))
        name = ACTION_NAMES.get(kind, kind)
        if kind == "republish":
            resource = members.get("topic", "")
            try:
                topic = substitute(members["topic"], message)
                resource = topic
                if not topic or "+" in topic or "#" in topic:
                    raise ValueError(f"not a topic to publish on: {topic!r}")
                self.publish(topic, _payload(result), int(members.get("qos", 0)))
            except Exception as exc:
                return Failure(name, resource, str(exc))
            return None
        if kind == "lambda":
            resource = members.get("functionArn", "")
            try:
                self.invoker.invoke_event(resource, result)
            except Exception as exc:
                return Failure(name, resource, str(exc))
            return None
        return Failure(name, "", f"the {kind} action is not run by the local cloud")


def error_message(rule_name: str, message: Message, failures: list[Failure]) -> dict[str, Any]:
    """The guide's "Error Action Message Format"."""
    return {
        "ruleName": rule_name,
        "topic": message.topic,
        "cloudwatchTraceId": str(uuid.uuid4()),
        "clientId": message.client_id if message.client_id is not None else "n/a",
        "base64OriginalPayload": base64.b64encode(message.payload).decode(),
        "failures": [failure.shape() for failure in failures],
    }


def _payload(result: Any) -> bytes:
    if isinstance(result, bytes):
        return result
    return json.dumps(result, separators=(",", ":")).encode()
