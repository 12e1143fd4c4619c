"""Request validation as aws-cli (botocore's ParamValidator) does it: --cli-input-json and the
command line merged into one request, checked against the operation's shape before any file is
read or anything is created."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rig.pytest_plugin.cli_runner import buttonrig as run
from rig.pytest_plugin.cli_runner import buttonrig_json as run_json


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir(mode=0o700)
    return path


def _refused(home: Path, *args: str) -> str:
    result = run(home, *args, ok=False)
    assert result.returncode == 255, result
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("buttonrig: ")
    return result.stderr


def test_string_for_boolean_is_refused_as_botocore_and_nothing_is_created(
    home: Path, tmp_path: Path
) -> None:
    key = tmp_path / "private.key"
    stderr = _refused(
        home,
        "iot",
        "create-keys-and-certificate",
        "--private-key-outfile",
        str(key),
        "--cli-input-json",
        '{"setAsActive":"false"}',
    )
    assert stderr == (
        "buttonrig: Parameter validation failed:\n"
        "Invalid type for parameter setAsActive, value: false, type: <class 'str'>,"
        " valid types: <class 'bool'>\n"
    )
    assert run_json(home, "iot", "list-certificates")["certificates"] == []
    assert not key.exists()


def test_command_line_wins_over_a_bad_json_member(home: Path) -> None:
    created = run_json(
        home,
        "iot",
        "create-thing",
        "--thing-name",
        "Good",
        "--cli-input-json",
        '{"thingName": 5}',
    )
    assert created["thingName"] == "Good"


def test_outfile_of_the_wrong_type_is_a_clear_error(home: Path) -> None:
    stderr = _refused(
        home,
        "iot-data",
        "get-thing-shadow",
        "--thing-name",
        "T",
        "--cli-input-json",
        '{"outfile":5}',
    )
    assert "Invalid type for parameter outfile, value: 5, type: <class 'int'>" in stderr


def test_every_problem_is_listed_and_no_file_is_read(home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-policy.json"
    request = {"policyName": 5, "policyDocument": f"file://{missing}", "nope": True}
    stderr = _refused(home, "iot", "create-policy", "--cli-input-json", json.dumps(request))
    lines = stderr.splitlines()
    assert lines[0] == "buttonrig: Parameter validation failed:"
    assert "Invalid type for parameter policyName, value: 5, type: <class 'int'>" in stderr
    assert 'Unknown parameter in input: "nope", must be one of: policyName, policyDocument' in (
        stderr
    )
    assert "unable to read" not in stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["create-thing", "--thing-name", "T", "--attribute-payload", '{"attributes":{"a":1}}'],
            "Invalid type for parameter attributePayload.attributes.a, value: 1",
        ),
        (
            ["create-thing", "--cli-input-json", '{"thingName":"T","attributePayload":{"x":1}}'],
            'Unknown parameter in attributePayload: "x", must be one of: attributes, merge',
        ),
        (
            [
                "create-thing-type",
                "--thing-type-name",
                "K",
                "--thing-type-properties",
                '{"searchableAttributes":"a"}',
            ],
            "Invalid type for parameter thingTypeProperties.searchableAttributes, value: a",
        ),
        (
            [
                "create-thing-group",
                "--thing-group-name",
                "G",
                "--thing-group-properties",
                '{"attributePayload":{"merge":"yes"}}',
            ],
            "Invalid type for parameter thingGroupProperties.attributePayload.merge, value: yes",
        ),
        (
            [
                "update-event-configurations",
                "--event-configurations",
                '{"THING":{"Enabled":"true"}}',
            ],
            "Invalid type for parameter eventConfigurations.THING.Enabled, value: true",
        ),
        (
            [
                "update-thing",
                "--thing-name",
                "T",
                "--expected-version",
                "1",
                "--cli-input-json",
                '{"removeThingType": 1}',
            ],
            "Invalid type for parameter removeThingType, value: 1, type: <class 'int'>",
        ),
    ],
)
def test_structure_members_are_checked(home: Path, args: list[str], expected: str) -> None:
    assert expected in _refused(home, "iot", *args)


def test_shorthand_follows_the_shape(home: Path) -> None:
    run(
        home,
        "iot",
        "create-thing-type",
        "--thing-type-name",
        "One",
        "--thing-type-properties",
        "thingTypeDescription=true,searchableAttributes=wattage",
    )
    described = run_json(home, "iot", "describe-thing-type", "--thing-type-name", "One")
    assert described["thingTypeProperties"] == {
        "thingTypeDescription": "true",
        "searchableAttributes": ["wattage"],
    }


def test_fileb_for_a_string_member_is_refused_as_botocore(home: Path, tmp_path: Path) -> None:
    """fileb:// gives bytes; a string member (the CSR) refuses them, as botocore's validator does
    (found by the CLI fuzz: an empty fileb:// CSR reached the CA as bytes, a traceback)."""
    csr = tmp_path / "request.csr"
    csr.write_bytes(b"")
    stderr = _refused(
        home,
        "iot",
        "create-certificate-from-csr",
        "--certificate-signing-request",
        f"fileb://{csr}",
    )
    assert "Invalid type for parameter certificateSigningRequest" in stderr
    assert "valid types: <class 'str'>" in stderr
    assert json.loads(run(home, "iot", "list-certificates").stdout)["certificates"] == []
