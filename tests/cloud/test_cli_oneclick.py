"""`buttonrig iot1click-devices` / `iot1click-projects` as the CLI page types them (no broker: the
presses are click messages recorded on the home's cloud database, as the cloud service records
them). Outputs compared with the page's JSON by shape; bad input is an aws-cli error, exit 255,
and changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import oneclick_seed as seed
import pytest
from oneclick_kit import click_message, iso_now

from rig.cloud.api import Cloud
from rig.pytest_plugin.cli_runner import buttonrig as run
from rig.pytest_plugin.cli_runner import buttonrig_json as run_json

SERIAL = seed.SERIAL
DEVICES, PROJECTS = "iot1click-devices", "iot1click-projects"


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "home"
    path.mkdir(mode=0o700)
    cloud = Cloud(path)
    cloud.provision_button(SERIAL)
    cloud.close()
    yield path


def press(home: Path, click_type: str = "SINGLE") -> None:
    cloud = Cloud(home)
    try:
        assert cloud.click_log.record(f"iotbutton/{SERIAL}", click_message(SERIAL, click_type))
    finally:
        cloud.close()


def write(tmp_path: Path, name: str, document: Any) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return f"file://{path}"


def refused(home: Path, *args: str) -> str:
    result = run(home, *args, ok=False)
    assert result.returncode == 255, result
    assert result.stderr.startswith("buttonrig: ") and "Traceback" not in result.stderr
    assert result.stdout == ""
    return result.stderr.removeprefix("buttonrig: ").strip()


def test_the_cli_pages_commands_give_its_shapes(home: Path, tmp_path: Path) -> None:
    assert run_json(home, DEVICES, "initiate-device-claim", "--device-id", SERIAL) == {
        "State": "CLAIM_INITIATED"
    }
    press(home)
    assert run_json(home, DEVICES, "finalize-device-claim", "--device-id", SERIAL) == {
        "State": "CLAIMED"
    }
    create = write(tmp_path, "create-project.json", seed.CREATE_PROJECT_JSON)
    assert run(home, PROJECTS, "create-project", "--cli-input-json", create).stdout == ""
    assert seed.shape(run_json(home, PROJECTS, "list-projects")) == seed.shape(seed.LIST_PROJECTS)
    project = run_json(home, PROJECTS, "describe-project", "--project-name", "SeattleDumpsters")
    assert seed.shape(project) == seed.shape(seed.DESCRIBE_PROJECT)
    assert (
        project["project"]["placementTemplate"]
        == (seed.DESCRIBE_PROJECT["project"]["placementTemplate"])
    )
    place = ("--project-name", "SeattleDumpsters", "--placement-name", "customer217")
    attributes = json.dumps(seed.DESCRIBE_PLACEMENT["placement"]["attributes"])
    run(home, PROJECTS, "create-placement", *place, "--attributes", attributes)
    listed = run_json(home, PROJECTS, "list-placements", "--project-name", "SeattleDumpsters")
    assert seed.shape(listed) == seed.shape(seed.LIST_PLACEMENTS)
    placement = run_json(home, PROJECTS, "describe-placement", *place)
    assert seed.shape(placement) == seed.shape(seed.DESCRIBE_PLACEMENT)
    assert run_json(home, PROJECTS, "get-devices-in-placement", *place) == {"devices": {}}
    template = ("--device-template-name", "empty-dumpster-request")
    run(
        home, PROJECTS, "associate-device-with-placement", *place, *template, "--device-id", SERIAL
    )
    assert run_json(home, PROJECTS, "get-devices-in-placement", *place) == {
        "devices": {"empty-dumpster-request": SERIAL}
    }
    described = run_json(home, DEVICES, "describe-device", "--device-id", SERIAL)
    assert seed.shape(described) == seed.shape(seed.DESCRIBE_DEVICE)
    assert {k: v for k, v in described["DeviceDescription"]["Attributes"].items()} == {
        **seed.ATTRIBUTES,
        "projectRegion": "us-east-1",  # the reference cloud's one region (C-1)
    }
    listed_devices = run_json(home, DEVICES, "list-devices", "--device-type", "button")
    assert listed_devices["Devices"] == [described["DeviceDescription"]]
    press(home, "SINGLE")
    window = ("--from-time-stamp", iso_now(-60_000), "--to-time-stamp", iso_now(60_000))
    events = run_json(home, DEVICES, "list-device-events", "--device-id", SERIAL, *window)
    assert seed.shape(events["Events"][-1]) == seed.shape(seed.LIST_DEVICE_EVENTS["Events"][0])
    methods = run_json(home, DEVICES, "get-device-methods", "--device-id", SERIAL)
    assert methods == seed.GET_DEVICE_METHODS
    invoke = write(tmp_path, "invoke-device-method.json", seed.INVOKE_HEALTH_JSON)
    health = run_json(home, DEVICES, "invoke-device-method", "--cli-input-json", invoke)
    assert seed.shape(health) == seed.shape(seed.INVOKE_HEALTH)
    assert json.loads(health["DeviceMethodResponse"]) == {"remainingLife": 99.9}
    with_parameters = write(
        tmp_path, "bad.json", {**seed.INVOKE_HEALTH_JSON, "DeviceMethodParameters": ""}
    )
    assert refused(home, DEVICES, "invoke-device-method", "--cli-input-json", with_parameters) == (
        seed.INVALID_PARAMETER
    )
    assert (
        run(home, DEVICES, "update-device-state", "--device-id", SERIAL, "--enabled").stdout == ""
    )
    assert run_json(home, DEVICES, "list-devices")["Devices"][0]["Enabled"] is True
    run(home, DEVICES, "update-device-state", "--device-id", SERIAL, "--no-enabled")
    assert run_json(home, DEVICES, "list-devices")["Devices"][0]["Enabled"] is False
    update = write(tmp_path, "update-placement.json", seed.UPDATE_PLACEMENT_JSON)
    run(home, PROJECTS, "update-placement", "--cli-input-json", update)
    after = run_json(home, PROJECTS, "describe-placement", *place)["placement"]
    assert after["attributes"] == seed.UPDATE_PLACEMENT_JSON["attributes"]
    new_text = "All dumpsters (yard waste, recycling, garbage) in the Seattle region."
    run(home, PROJECTS, "update-project", "--project-name", "SeattleDumpsters", "--description",
        new_text)  # fmt: skip
    arn = project["project"]["arn"]
    tags = write(
        tmp_path, "projects-tag-resource.json", {**seed.PROJECT_TAGS_JSON, "resourceArn": arn}
    )
    run(home, PROJECTS, "tag-resource", "--cli-input-json", tags)
    assert run_json(home, PROJECTS, "list-tags-for-resource", "--resource-arn", arn) == {
        "tags": {"Manager": "Tom Jones", "Account": "45215"}
    }
    device_arn = described["DeviceDescription"]["Arn"]
    device_tags = write(
        tmp_path, "devices-tag-resource.json", {**seed.DEVICE_TAGS_JSON, "ResourceArn": device_arn}
    )
    run(home, DEVICES, "tag-resource", "--cli-input-json", device_tags)
    assert run_json(home, DEVICES, "list-tags-for-resource", "--resource-arn", device_arn) == {
        "Tags": seed.DEVICE_TAGS_JSON["Tags"]
    }
    run(home, PROJECTS, "untag-resource", "--resource-arn", arn, "--tag-keys", "Manager")
    run(home, DEVICES, "untag-resource", "--resource-arn", device_arn, "--tag-keys",
        "Driver Phone", "Driver")  # fmt: skip
    assert run_json(home, PROJECTS, "describe-project", "--project-name", "SeattleDumpsters")[
        "project"
    ]["tags"] == {"Account": "45215"}
    assert run_json(home, DEVICES, "list-devices")["Devices"][0]["Tags"] == {}
    run(home, PROJECTS, "disassociate-device-from-placement", *place, *template)
    assert run_json(home, PROJECTS, "get-devices-in-placement", *place) == {"devices": {}}
    run(home, PROJECTS, "delete-placement", *place)
    assert run_json(home, PROJECTS, "list-placements", "--project-name", "SeattleDumpsters") == {
        "placements": []
    }
    run(home, PROJECTS, "delete-project", "--project-name", "SeattleDumpsters")
    assert run_json(home, PROJECTS, "list-projects") == {"projects": []}
    assert run_json(home, DEVICES, "unclaim-device", "--device-id", SERIAL) == {
        "State": "UNCLAIMED"
    }


def test_bad_input_is_an_aws_cli_error_and_changes_nothing(home: Path, tmp_path: Path) -> None:
    assert refused(home, DEVICES, "finalize-device-claim", "--device-id", SERIAL).startswith(
        "An error occurred (PreconditionFailedException) when calling the FinalizeDeviceClaim"
    )
    assert "ResourceNotFoundException" in refused(
        home, DEVICES, "initiate-device-claim", "--device-id", "G030PM0000000000"
    )
    assert "InvalidRequestException" in refused(
        home, DEVICES, "initiate-device-claim", "--device-id", "G030JF055364XVRB"
    )
    broken = write(tmp_path, "create-project.json", '{"projectName": "SeattleDumpsters",')
    assert "Invalid JSON" in refused(home, PROJECTS, "create-project", "--cli-input-json", broken)
    assert "Invalid JSON" in refused(
        home, PROJECTS, "create-project", "--project-name", "P", "--placement-template", "{bad"
    )
    oversize = json.dumps({"defaultAttributes": {"City": "S" * 801}})
    assert "InvalidRequestException" in refused(
        home, PROJECTS, "create-project", "--project-name", "P", "--placement-template", oversize
    )
    wrong_type = json.dumps({"deviceTemplates": {"t": {"deviceType": 5}}})
    assert "Invalid type for parameter" in refused(
        home, PROJECTS, "create-project", "--project-name", "P", "--placement-template", wrong_type
    )
    assert run_json(home, PROJECTS, "list-projects") == {"projects": []}
    run(home, PROJECTS, "create-project", "--project-name", "P")
    assert "ResourceConflictException" in refused(
        home, PROJECTS, "create-project", "--project-name", "P", "--description", "again"
    )
    assert (
        run_json(home, PROJECTS, "describe-project", "--project-name", "P")["project"][
            "description"
        ]
        == ""
    )
    assert "ResourceNotFoundException" in refused(
        home, PROJECTS, "create-placement", "--project-name", "Nope", "--placement-name", "x"
    )
    assert "--from-time-stamp" in refused(
        home, DEVICES, "list-device-events", "--device-id", SERIAL, "--to-time-stamp", iso_now()
    )
