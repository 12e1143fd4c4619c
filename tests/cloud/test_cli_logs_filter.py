"""`buttonrig logs filter-log-events` on the cloud's log group AWSIotLogsV2, with the workshop's
searches (spec-1click-workshop.md §5.11): all events since a start time, then the JSON filter
patterns `{$.logLevel = INFO}`, `{$.logLevel = ERROR}` and `{$.clientId = $THING_NAME}`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from rig.cloud.api import Cloud
from rig.pytest_plugin.cli_runner import buttonrig as run
from rig.pytest_plugin.cli_runner import buttonrig_json as run_json


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    cloud = Cloud(home)
    try:
        cloud.set_v2_logging_options(default_log_level="DEBUG")
        log = cloud.iot_log
        connect = {"status": "Success", "eventType": "Connect", "protocol": "MQTT"}
        refused = {"status": "Failure", "eventType": "Disconnect", "protocol": "MQTT"}
        log.emit("INFO", "group-member", "c1", connect)
        log.emit("ERROR", "group-member", "c1", {**refused, "disconnectReason": "AUTH_ERROR"})
        log.emit("INFO", "other-thing", "c2", connect)
    finally:
        cloud.close()
    return home


def _search(home: Path, *extra: str) -> list[dict]:
    starttime = (int(time.time()) - 3600) * 1000  # $(($(date '+%s') - 3600)) * 1000
    found = run_json(
        home,
        "logs",
        "filter-log-events",
        "--log-group-name",
        "AWSIotLogsV2",
        "--start-time",
        str(starttime),
        *extra,
    )
    return [json.loads(event["message"]) for event in found["events"]]


def test_the_workshops_searches(home: Path) -> None:
    everything = _search(home)
    assert [(r["clientId"], r["eventType"]) for r in everything] == [
        ("group-member", "Connect"),
        ("group-member", "Disconnect"),
        ("other-thing", "Connect"),
    ]
    info = _search(home, "--filter-pattern", "{$.logLevel = INFO}")
    assert [r["clientId"] for r in info] == ["group-member", "other-thing"]
    errors = _search(home, "--filter-pattern", "{$.logLevel = ERROR}")
    assert [(r["clientId"], r["disconnectReason"]) for r in errors] == [
        ("group-member", "AUTH_ERROR")
    ]
    mine = _search(home, "--filter-pattern", "{$.clientId = group-member}")
    assert len(mine) == 2 and all(r["clientId"] == "group-member" for r in mine)
    both = _search(
        home, "--filter-pattern", '{ ($.clientId = "group-member") && ($.logLevel != ERROR) }'
    )
    assert [r["eventType"] for r in both] == ["Connect"]


def test_events_have_the_filter_log_events_shape(home: Path) -> None:
    found = run_json(home, "logs", "filter-log-events", "--log-group-name", "AWSIotLogsV2")
    event = found["events"][0]
    assert set(event) == {"logStreamName", "timestamp", "message", "ingestionTime", "eventId"}
    assert abs(event["timestamp"] - time.time() * 1000) < 60_000
    later = (int(time.time()) + 3600) * 1000
    none = run_json(
        home,
        "logs",
        "filter-log-events",
        "--log-group-name",
        "AWSIotLogsV2",
        "--start-time",
        str(later),
    )
    assert none["events"] == []


def test_unknown_group_and_bad_pattern_are_aws_cli_errors(home: Path) -> None:
    missing = run(home, "logs", "filter-log-events", "--log-group-name", "NoSuchGroup", ok=False)
    assert missing.returncode == 255
    assert "(ResourceNotFoundException) when calling the FilterLogEvents" in missing.stderr
    bad = run(
        home,
        "logs",
        "filter-log-events",
        "--log-group-name",
        "AWSIotLogsV2",
        "--filter-pattern",
        "{$.logLevel = }",
        ok=False,
    )
    assert bad.returncode == 255
    assert "(InvalidParameterException) when calling the FilterLogEvents" in bad.stderr
