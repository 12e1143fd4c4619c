"""Fine-grained logging as the workshop's section 5.11 runs it (seed 004), and the cloud's own
log of device events honouring it against a running cloud."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from rig.pytest_plugin.cli_runner import buttonrig as run
from rig.pytest_plugin.cli_runner import buttonrig_json as run_json

TARGET = '{"targetType": "THING_GROUP", "targetName": "building-one"}'


@pytest.fixture
def home(tmp_path: Path) -> Path:
    tmp_path.chmod(0o700)
    return tmp_path


def test_workshop_fine_grained_logging_commands(home: Path) -> None:
    missing = run(home, "iot", "get-v2-logging-options", ok=False)
    assert missing.returncode == 255
    assert "(NotConfiguredException) when calling the GetV2LoggingOptions" in missing.stderr
    # section 5.1 sets the account's level to Warnings in the console; this is its CLI form
    run(
        home,
        "iot",
        "set-v2-logging-options",
        "--default-log-level",
        "WARN",
        "--role-arn",
        "arn:aws:iam::123456789012:role/AWSIoTAccessServices",
    )
    assert run_json(home, "iot", "get-v2-logging-options") == {
        "roleArn": "arn:aws:iam::123456789012:role/AWSIoTAccessServices",
        "defaultLogLevel": "WARN",
        "disableAllLogs": False,
    }
    unknown = run(
        home,
        "iot",
        "set-v2-logging-level",
        "--log-level",
        "DEBUG",
        "--log-target",
        TARGET,
        ok=False,
    )
    assert "(InvalidRequestException)" in unknown.stderr  # no such thing group yet
    run(home, "iot", "create-thing-group", "--thing-group-name", "building-one")
    assert (
        run(
            home, "iot", "set-v2-logging-level", "--log-level", "DEBUG", "--log-target", TARGET
        ).stdout
        == ""
    )
    assert run_json(home, "iot", "list-v2-logging-levels") == {
        "logTargetConfigurations": [
            {
                "logTarget": {"targetType": "THING_GROUP", "targetName": "building-one"},
                "logLevel": "DEBUG",
            }
        ]
    }
    run(
        home,
        "iot",
        "set-v2-logging-level",
        "--log-level",
        "ERROR",
        "--log-target",
        '{"targetType": "CLIENT_ID", "targetName": "noisy"}',
    )
    only_groups = run_json(home, "iot", "list-v2-logging-levels", "--target-type", "THING_GROUP")
    assert len(only_groups["logTargetConfigurations"]) == 1
    bad_level = run(
        home,
        "iot",
        "set-v2-logging-level",
        "--log-level",
        "LOUD",
        "--log-target",
        TARGET,
        ok=False,
    )
    assert bad_level.returncode != 0
    run(
        home,
        "iot",
        "delete-v2-logging-level",
        "--target-type",
        "CLIENT_ID",
        "--target-name",
        "noisy",
    )
    run(
        home,
        "iot",
        "delete-v2-logging-level",
        "--target-type",
        "THING_GROUP",
        "--target-name",
        "building-one",
    )
    assert run_json(home, "iot", "list-v2-logging-levels") == {"logTargetConfigurations": []}
    run(home, "iot", "set-v2-logging-options", "--disable-all-logs")
    options = run_json(home, "iot", "get-v2-logging-options")
    assert options["disableAllLogs"] is True and options["defaultLogLevel"] == "WARN"


def test_at_most_ten_targets(home: Path) -> None:
    run(home, "iot", "set-v2-logging-options", "--default-log-level", "ERROR")
    for number in range(10):
        run(
            home,
            "iot",
            "set-v2-logging-level",
            "--log-level",
            "INFO",
            "--log-target",
            json.dumps({"targetType": "CLIENT_ID", "targetName": f"c{number}"}),
        )
    eleventh = run(
        home,
        "iot",
        "set-v2-logging-level",
        "--log-level",
        "INFO",
        "--log-target",
        '{"targetType": "CLIENT_ID", "targetName": "c10"}',
        ok=False,
    )
    assert "(LimitExceededException)" in eleventh.stderr


def _records(path: Path, client_id: str) -> list[dict]:
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return [r for r in records if r["clientId"] == client_id]


def _wait_for(path: Path, client_id: str, count: int) -> list[dict]:
    deadline = time.monotonic() + 5
    while len(found := _records(path, client_id)) < count:
        assert time.monotonic() < deadline, f"only {found} logged for {client_id}"
        time.sleep(0.05)
    return found


def test_the_cloud_log_follows_the_thing_groups_level(device, cloud) -> None:
    api = cloud.cloud
    log_file = api.directory / "logs" / "AWSIotLogsV2.jsonl"
    api.set_v2_logging_options(default_log_level="WARN")
    quiet = device("log-quiet")  # the default WARN: its Connect (INFO) is not logged
    api.create_thing_group("building-one")
    loud_name = "log-loud"
    loud = device(loud_name, connect=False)
    api.add_thing_to_thing_group(thing_group_name="building-one", thing_name=loud_name)
    api.set_v2_logging_level({"targetType": "THING_GROUP", "targetName": "building-one"}, "DEBUG")
    loud.connect()
    connect = _wait_for(log_file, loud_name, 1)[0]
    assert connect["eventType"] == "Connect" and connect["logLevel"] == "INFO"
    assert connect["status"] == "Success" and connect["accountId"] == "123456789012"
    assert connect["principalId"] and connect["protocol"] == "MQTT"
    # a publish its policy does not allow: the broker closes the connection (AUTH_ERROR)
    loud.publish("telemetry/not-allowed", {"x": 1}, qos=0)
    records = _wait_for(log_file, loud_name, 2)
    assert records[1]["eventType"] == "Disconnect" and records[1]["logLevel"] == "ERROR"
    assert records[1]["disconnectReason"] == "AUTH_ERROR"
    quiet.close()
    time.sleep(0.5)
    assert _records(log_file, "log-quiet") == []  # WARN: neither Connect nor Disconnect
