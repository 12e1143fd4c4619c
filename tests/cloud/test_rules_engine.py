"""The rules engine on its own (no broker): actions, the error action's message (the guide's
"Error Action Message Format": one message per rule and message, every failure in it)."""

from __future__ import annotations

import base64
import json
from typing import Any

from rig.cloud.core.errors import ResourceNotFoundException
from rig.cloud.rules.engine import Rule, RulesEngine
from rig.cloud.rules.functions import Message

KNOWN = "arn:aws:lambda:us-east-1:123456789012:function:Known"
ROLE = "arn:aws:iam::123456789012:role/r"


class Recorder:
    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, int]] = []
        self.invoked: list[tuple[str, Any]] = []

    def publish(self, topic: str, payload: bytes, qos: int) -> None:
        self.published.append((topic, payload, qos))

    def invoke_event(self, function_arn: str, event: Any) -> None:
        if function_arn != KNOWN:
            raise ResourceNotFoundException(f"Function not found: {function_arn}")
        self.invoked.append((function_arn, event))


def _rule(sql: str, actions: list[dict[str, Any]], **extra: Any) -> Rule:
    return Rule.from_stored("TestRule", {"sql": sql, "actions": actions, **extra})


def _message(topic: str, document: Any) -> Message:
    payload = document if isinstance(document, bytes) else json.dumps(document).encode()
    return Message(topic, None, 1481825251155, payload)


def test_republish_and_lambda_get_the_select_result() -> None:
    recorder = Recorder()
    engine = RulesEngine(recorder.publish, recorder)
    rule = _rule(
        "SELECT *, topic() AS topic FROM 'my/iot/topic'",  # TV-19
        [
            {"republish": {"topic": "${topic()}/republish", "roleArn": ROLE, "qos": 1}},
            {"lambda": {"functionArn": KNOWN}},
        ],
    )
    document = {"deviceid": "iot123", "temp": 54.98}
    assert engine.apply(rule, _message("my/iot/topic", document)) == []
    expected = {**document, "topic": "my/iot/topic"}
    ((topic, payload, qos),) = recorder.published
    assert (topic, json.loads(payload), qos) == ("my/iot/topic/republish", expected, 1)
    assert recorder.invoked == [(KNOWN, expected)]


def test_a_false_where_or_a_disabled_rule_does_nothing() -> None:
    recorder = Recorder()
    engine = RulesEngine(recorder.publish, recorder)
    action = [{"lambda": {"functionArn": KNOWN}}]
    engine.apply(
        _rule("SELECT * FROM 'a/b' WHERE temperature > 50", action),
        _message("a/b", {"temperature": 40}),
    )
    engine.apply(_rule("SELECT * FROM 'a/b'", action, ruleDisabled=True), _message("a/b", {}))
    assert recorder.invoked == [] and recorder.published == []


def test_every_failure_of_a_message_goes_to_the_error_action_in_one_message() -> None:
    recorder = Recorder()
    engine = RulesEngine(recorder.publish, recorder)
    missing = "arn:aws:lambda:us-east-1:123456789012:function:Missing"
    rule = _rule(
        "SELECT * FROM 'sensors/+'",
        [
            {"lambda": {"functionArn": missing}},
            {"republish": {"topic": "out/${room}", "roleArn": ROLE}},  # room is a wildcard
            {"republish": {"topic": "fine/${topic(2)}", "roleArn": ROLE}},
        ],
        errorAction={"lambda": {"functionArn": KNOWN}},
    )
    original = {"room": "#"}
    failures = engine.apply(rule, _message("sensors/s1", original))
    assert [f.action for f in failures] == ["LambdaAction", "RepublishAction"]
    assert [topic for topic, _, _ in recorder.published] == ["fine/s1"]
    ((arn, report),) = recorder.invoked
    assert arn == KNOWN
    assert set(report) == {
        "ruleName", "topic", "cloudwatchTraceId", "clientId", "base64OriginalPayload", "failures",
    }  # fmt: skip
    assert report["ruleName"] == "TestRule" and report["topic"] == "sensors/s1"
    assert json.loads(base64.b64decode(report["base64OriginalPayload"])) == original
    assert [f["failedResource"] for f in report["failures"]] == [missing, "out/#"]
    assert "Function not found" in report["failures"][0]["errorMessage"]


def test_a_binary_payload_is_republished_as_it_came() -> None:
    recorder = Recorder()
    engine = RulesEngine(recorder.publish, recorder)
    rule = _rule(
        "SELECT * FROM 'raw/+'", [{"republish": {"topic": "copy/${topic(2)}", "roleArn": ROLE}}]
    )
    engine.apply(rule, _message("raw/x", b"\x00\x01\xff"))
    assert recorder.published == [("copy/x", b"\x00\x01\xff", 0)]
