"""The real aws-cli (awscli from PyPI, `python -m awscli`) with `--endpoint-url` against a
running cloud: the seeds' commands give the seeds' shapes, a service error exits as aws-cli does
(issue #16). Its output is parsed by botocore from our HTTP replies, so this checks the wire
format end to end."""

from __future__ import annotations

import json

import pytest
from aws_http import api_url, aws


@pytest.fixture
def url(cloud) -> str:
    return api_url(cloud)


def test_seed_walkthrough_shapes(url) -> None:
    assert aws(url, "iot", "create-thing-type", "--thing-type-name", "StopLight").returncode == 0
    created = aws(
        url,
        "iot",
        "create-thing",
        "--thing-name",
        "MyLightBulb",
        "--thing-type-name",
        "StopLight",
        "--attribute-payload",
        '{"attributes": {"model": "123", "wattage": "75"}}',
    )
    assert created.returncode == 0, created.stderr
    assert set(json.loads(created.stdout)) == {"thingName", "thingArn", "thingId"}
    described = aws(url, "iot", "describe-thing", "--thing-name", "MyLightBulb")
    assert described.returncode == 0, described.stderr
    # the AWS IoT Developer Guide's `aws iot describe-thing --thing-name "MyLightBulb"`
    shown = json.loads(described.stdout)
    assert set(shown) == {
        "version",
        "thingName",
        "thingArn",
        "thingId",
        "defaultClientId",
        "thingTypeName",
        "attributes",
    }
    assert shown["attributes"] == {"model": "123", "wattage": "75"}
    assert shown["thingTypeName"] == "StopLight"
    listed = aws(
        url, "iot", "list-things", "--attribute-name", "wattage", "--attribute-value", "75"
    )
    assert listed.returncode == 0, listed.stderr
    things = json.loads(listed.stdout)["things"]
    assert [t["thingName"] for t in things] == ["MyLightBulb"]
    assert {"thingTypeName", "attributes", "version", "thingName"} <= set(things[0])


def test_shadow_with_the_real_cli(url, tmp_path) -> None:
    # aws-cli v1 (the one on PyPI) sends a blob as given: no --cli-binary-format
    assert aws(url, "iot", "create-thing", "--thing-name", "cli-shadow").returncode == 0
    out = tmp_path / "out.json"
    updated = aws(
        url,
        "iot-data",
        "update-thing-shadow",
        "--thing-name",
        "cli-shadow",
        "--payload",
        '{"state":{"desired":{"double_ms":300}}}',
        str(out),
    )
    assert updated.returncode == 0, updated.stderr
    assert json.loads(out.read_text())["state"] == {"desired": {"double_ms": 300}}
    got = aws(url, "iot-data", "get-thing-shadow", "--thing-name", "cli-shadow", str(out))
    assert got.returncode == 0, got.stderr
    assert json.loads(out.read_text())["state"]["desired"] == {"double_ms": 300}


def test_service_error_exits_as_aws_cli_does(url) -> None:
    failed = aws(url, "iot", "describe-thing", "--thing-name", "cli-no-such-thing")
    assert failed.returncode == 255
    assert (
        "An error occurred (ResourceNotFoundException) when calling the DescribeThing"
        " operation: Thing cli-no-such-thing cannot be found." in failed.stderr
    )
    assert failed.stdout == ""
    lacking = aws(url, "iot", "list-audit-suppressions")
    assert lacking.returncode == 255
    assert "(UnknownOperationException) when calling the ListAuditSuppressions operation" in (
        lacking.stderr
    )
