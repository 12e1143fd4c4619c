"""Inputs that once ended in a traceback: JSON nested deeper than Python recurses, and an
emulated button named as the cloud's own broker client. Each is a `buttonrig:` error, exit 255,
and nothing is created."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.cloud.api import Cloud
from rig.cloud.certificates.store import RESERVED_COMMON_NAMES
from rig.cloud.core.errors import CloudError
from rig.pytest_plugin.cli_runner import buttonrig as run
from rig.pytest_plugin.cli_runner import buttonrig_json as run_json

DEPTH = 3000


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir(mode=0o700)
    return path


def _deep_object() -> str:
    return '{"a":' * DEPTH + "1" + "}" * DEPTH


def _deep_list() -> str:
    return "[" * DEPTH + "]" * DEPTH


def _refused(home: Path, *args: str) -> str:
    result = run(home, *args, ok=False)
    assert result.returncode == 255, result
    assert result.stderr.startswith("buttonrig: ") and "Traceback" not in result.stderr
    return result.stderr


@pytest.mark.parametrize("document", [_deep_object(), _deep_list()])
@pytest.mark.parametrize("scheme", ["file", "fileb"])
def test_deep_shadow_payload(home: Path, tmp_path: Path, document: str, scheme: str) -> None:
    run(home, "iot", "create-thing", "--thing-name", "Deep")
    payload, out = tmp_path / "payload.json", tmp_path / "out.json"
    payload.write_text(document)
    stderr = _refused(
        home,
        "iot-data",
        "update-thing-shadow",
        "--thing-name",
        "Deep",
        "--payload",
        f"{scheme}://{payload}",
        str(out),
    )
    assert "nested too deeply" in stderr
    assert not out.exists()
    _refused(home, "iot-data", "get-thing-shadow", "--thing-name", "Deep", str(out))


@pytest.mark.parametrize("document", [_deep_object(), _deep_list()])
def test_deep_cli_input_json_and_structures(home: Path, tmp_path: Path, document: str) -> None:
    path = tmp_path / "deep.json"
    path.write_text(document)
    for args in (
        ["iot", "create-thing", "--cli-input-json", document],
        ["iot", "create-thing", "--cli-input-json", f"file://{path}"],
        ["iot", "create-thing", "--thing-name", "T", "--attribute-payload", document],
        ["iot", "create-thing", "--thing-name", "T", "--attribute-payload", f"file://{path}"],
        [
            "iot",
            "create-thing-type",
            "--thing-type-name",
            "K",
            "--thing-type-properties",
            document,
        ],
        ["iot", "update-event-configurations", "--event-configurations", f"file://{path}"],
        ["iot", "create-policy", "--policy-name", "P", "--policy-document", f"file://{path}"],
    ):
        stderr = _refused(home, *args)
        # a policy longer than 2048 characters is refused by the cloud before it is parsed
        assert "nested too deeply" in stderr or "MalformedPolicyException" in stderr, stderr
    assert run_json(home, "iot", "list-things")["things"] == []
    assert run_json(home, "iot", "list-policies")["policies"] == []


def test_nearly_too_deep_values_in_the_request(home: Path) -> None:
    """Parsed, but as deep as Python goes: refused by validation, or as too deep; no traceback."""
    for depth in (900, 950, 980, 990, 995):
        nested = "[" * depth + "]" * depth
        request = '{"thingName": "T", "attributePayload": {"attributes": {"a": ' + nested + "}}}"
        _refused(home, "iot", "create-thing", "--cli-input-json", request)
    assert run_json(home, "iot", "list-things")["things"] == []


@pytest.mark.parametrize("serial", RESERVED_COMMON_NAMES)
def test_emulated_button_may_not_take_a_cloud_client_id(home: Path, serial: str) -> None:
    stderr = _refused(home, "emulate", "start", "--serial", serial)
    assert "reserved" in stderr
    assert not (home / "boards").exists()


@pytest.mark.parametrize("serial", RESERVED_COMMON_NAMES)
def test_provision_button_refuses_a_reserved_name_before_creating(home: Path, serial: str) -> None:
    cloud = Cloud(home)
    try:
        with pytest.raises(CloudError, match="reserved"):
            cloud.provision_button(serial)
        assert cloud.list_things()["things"] == []
        assert cloud.list_certificates()["certificates"] == []
        assert cloud.list_policies()["policies"] == []
    finally:
        cloud.close()
