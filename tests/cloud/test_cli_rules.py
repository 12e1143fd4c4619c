"""`buttonrig iot …-topic-rule(s)` as a user runs them: aws-cli shapes, errors, nothing changed
by a refused request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rig.pytest_plugin.cli_runner import buttonrig as run
from rig.pytest_plugin.cli_runner import buttonrig_json as run_json
from rig.pytest_plugin.cli_runner import buttonrig_subprocess

JITR_RULE = {  # the workshop's JITR rule (S004), its double-quoted string included
    "sql": "SELECT * FROM '$aws/events/certificates/registered/#'"
    ' WHERE certificateStatus = "PENDING_ACTIVATION"',
    "description": "Rule for JITR",
    "actions": [
        {"lambda": {"functionArn": "arn:aws:lambda:us-east-1:123456789012:function:jitr"}}
    ],
}
REPUBLISH = {
    "republish": {
        "topic": "$$aws/things/myLightBulb/shadow/update",
        "roleArn": "arn:aws:iam::123456789012:role/aws_iot_republish",
    }
}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli-rules-home")
    path.chmod(0o700)
    return path


def _file(tmp_path: Path, payload: object) -> str:
    path = tmp_path / "rule.json"
    path.write_text(json.dumps(payload))
    return f"file://{path}"


def test_rule_lifecycle_shapes(home: Path, tmp_path: Path) -> None:
    created = buttonrig_subprocess(
        home,
        "iot",
        "create-topic-rule",
        "--rule-name",
        "JITRRule",
        "--topic-rule-payload",
        _file(tmp_path, JITR_RULE),
    )
    assert created.stdout == ""  # aws-cli prints nothing for CreateTopicRule
    got = run_json(home, "iot", "get-topic-rule", "--rule-name", "JITRRule")
    assert got["ruleArn"] == "arn:aws:iot:us-east-1:123456789012:rule/JITRRule"
    rule = got["rule"]
    assert rule["ruleName"] == "JITRRule" and rule["sql"] == JITR_RULE["sql"]
    assert rule["actions"] == JITR_RULE["actions"] and rule["ruleDisabled"] is False
    assert rule["awsIotSqlVersion"] == "2015-10-08" and isinstance(rule["createdAt"], float)
    listed = run_json(home, "iot", "list-topic-rules")["rules"]
    entry = next(r for r in listed if r["ruleName"] == "JITRRule")
    assert entry["topicPattern"] == "$aws/events/certificates/registered/#"
    assert set(entry) == {"ruleArn", "ruleName", "topicPattern", "createdAt", "ruleDisabled"}

    run(home, "iot", "disable-topic-rule", "--rule-name", "JITRRule")
    assert run_json(home, "iot", "get-topic-rule", "--rule-name", "JITRRule")["rule"][
        "ruleDisabled"
    ]
    disabled = run_json(home, "iot", "list-topic-rules", "--rule-disabled")["rules"]
    assert [r["ruleName"] for r in disabled] == ["JITRRule"]
    run(home, "iot", "enable-topic-rule", "--rule-name", "JITRRule")
    replaced = {"sql": "SELECT * FROM 'my/things/myLightBulb/update'", "actions": [REPUBLISH]}
    run(
        home,
        "iot",
        "replace-topic-rule",
        "--rule-name",
        "JITRRule",
        "--topic-rule-payload",
        json.dumps(replaced),
    )
    rule = run_json(home, "iot", "get-topic-rule", "--rule-name", "JITRRule")["rule"]
    assert rule["sql"] == replaced["sql"] and rule["actions"] == [REPUBLISH]
    by_topic = run_json(home, "iot", "list-topic-rules", "--topic", "my/things/myLightBulb/update")
    assert [r["ruleName"] for r in by_topic["rules"]] == ["JITRRule"]
    run(home, "iot", "delete-topic-rule", "--rule-name", "JITRRule")
    assert "JITRRule" not in [
        r["ruleName"] for r in run_json(home, "iot", "list-topic-rules")["rules"]
    ]


@pytest.mark.parametrize(
    ("payload", "code", "words"),
    [
        ({"sql": "SELECT * FORM 'a/b'", "actions": []}, "SqlParseException", "expected FROM"),
        ({"sql": "SELECT nosuch(a) FROM 'a/b'", "actions": []}, "SqlParseException", "nosuch"),
        ({"actions": []}, "InvalidRequestException", "sql is required"),
        ({"sql": "SELECT * FROM 'a/b'"}, "InvalidRequestException", "actions is required"),
        (
            {"sql": "SELECT * FROM 'a/b'", "actions": [{"sns": {"targetArn": "x"}}]},
            "InvalidRequestException",
            "not run by the local cloud",
        ),
        (
            {"sql": "SELECT * FROM 'a/b'", "actions": [{"lambda": {}}]},
            "InvalidRequestException",
            "lambda.functionArn is required",
        ),
        (
            {
                "sql": "SELECT * FROM 'a/b'",
                "actions": [{"republish": {"topic": "x/${topic(}", "roleArn": "r"}}],
            },
            "InvalidRequestException",
            "republish.topic",
        ),
        (
            {"sql": "SELECT * FROM 'a/b'", "actions": [], "awsIotSqlVersion": "2020-01-01"},
            "InvalidRequestException",
            "awsIotSqlVersion",
        ),
    ],
)
def test_bad_rules_are_refused_and_nothing_is_stored(
    home: Path, tmp_path: Path, payload: dict[str, object], code: str, words: str
) -> None:
    before = run_json(home, "iot", "list-topic-rules")
    refused = run(
        home,
        "iot",
        "create-topic-rule",
        "--rule-name",
        "BadRule",
        "--topic-rule-payload",
        _file(tmp_path, payload),
        ok=False,
    )
    assert refused.returncode == 255
    assert f"An error occurred ({code}) when calling the CreateTopicRule operation" in (
        refused.stderr
    )
    assert words in refused.stderr
    assert run_json(home, "iot", "list-topic-rules") == before


def test_names_duplicates_and_missing_rules(home: Path, tmp_path: Path) -> None:
    payload = _file(tmp_path, {"sql": "SELECT * FROM 'a/b'", "actions": []})
    bad_name = run(
        home, "iot", "create-topic-rule", "--rule-name", "no-dashes", "--topic-rule-payload",
        payload, ok=False,
    )  # fmt: skip
    assert "(InvalidRequestException)" in bad_name.stderr and "^[a-zA-Z0-9_]+$" in bad_name.stderr
    run(home, "iot", "create-topic-rule", "--rule-name", "Twice", "--topic-rule-payload", payload)
    again = run(
        home, "iot", "create-topic-rule", "--rule-name", "Twice", "--topic-rule-payload",
        payload, ok=False,
    )  # fmt: skip
    assert "(ResourceAlreadyExistsException)" in again.stderr
    for command in ("get-topic-rule", "delete-topic-rule", "enable-topic-rule"):
        missing = run(home, "iot", command, "--rule-name", "NoSuchRule", ok=False)
        assert missing.returncode == 255
        assert "(UnauthorizedException)" in missing.stderr, missing.stderr
    malformed = run(
        home, "iot", "create-topic-rule", "--rule-name", "Broken", "--topic-rule-payload",
        "{not json", ok=False,
    )  # fmt: skip
    assert malformed.returncode == 255 and "Invalid JSON" in malformed.stderr
