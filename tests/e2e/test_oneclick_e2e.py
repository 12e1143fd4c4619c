"""The dumpster walkthrough of "Using AWS IoT 1-Click with the AWS CLI" end to end: an emulated
Enterprise Button (real firmware on the unix port, serial G030PM…, set up through its config
page) against the real broker and cloud, every step a `buttonrig` command as the page types it.

The claim is completed by a real press (its click reaches the cloud, the LED shows `published`,
solid green); presses become list-device-events entries and, once the device is enabled, placed
and its template has a callback, exactly one callback payload each (a recording invoker stands
in for the local Lambda functions). The page's outputs are compared by shape (its ARNs, account,
region, dates are AWS's).
"""

from __future__ import annotations

import json
from pathlib import Path

import oneclick_seed as seed
import pytest
from connectivity_kit import WAIT_S, connected, emulated
from oneclick_kit import (
    MEETING_ROOM_TEMPLATE,
    SAT_LAMBDA,
    UNSAT_LAMBDA,
    RecordingInvoker,
    check_click_payload,
    check_std_event,
    iso_now,
)

from rig import gestures
from rig.backends.local import local_backend
from rig.cloud.clicks.store import ClickLog
from rig.cloud.runtime import CloudRuntime
from rig.drivers.emulated import EmulatedBoard
from rig.pytest_plugin.boards import BoardFactory
from rig.pytest_plugin.cli_runner import buttonrig as run
from rig.pytest_plugin.cli_runner import buttonrig_json as run_json
from rig.strategies.provisioning import CustomerSetup

pytestmark = pytest.mark.e2e

SERIAL = "G030PM0000E2E001"
DEVICES, PROJECTS = "iot1click-devices", "iot1click-projects"
PICKUP = "arn:aws:lambda:us-east-1:123456789012:function:DumpsterPickup"


def click(board: EmulatedBoard, clicks: ClickLog, steps: list[gestures.Step], kind: str) -> str:
    """Play a gesture; once its click is at the cloud, its eventId."""
    board.console.skip_to_end()
    board.press(steps)
    event = board.expect("click", WAIT_S, type=kind)
    clicks.wait_for_ids(SERIAL, [event["id"]], WAIT_S)
    return str(event["id"])


def events(home: Path) -> list[dict[str, object]]:
    window = ("--from-time-stamp", iso_now(-600_000), "--to-time-stamp", iso_now(600_000))
    listed = run_json(home, DEVICES, "list-device-events", "--device-id", SERIAL, *window)
    return [check_std_event(e["StdEvent"]) for e in listed["Events"]]


@pytest.mark.board_files({"serial": SERIAL.encode()})
def test_dumpster_walkthrough_with_an_emulated_button(
    boards: BoardFactory, cloud_runtime: CloudRuntime, tmp_path: Path
) -> None:
    board, setup = connected(boards, cloud_runtime)
    assert setup.serial == SERIAL
    home = cloud_runtime.home
    clicks = ClickLog(cloud_runtime.cloud.store)
    invoker = RecordingInvoker()
    cloud_runtime.cloud.oneclick.use_functions(invoker)

    # claim: initiate, a real press, finalize
    assert run_json(home, DEVICES, "initiate-device-claim", "--device-id", SERIAL) == {
        "State": "CLAIM_INITIATED"
    }
    early = run(home, DEVICES, "finalize-device-claim", "--device-id", SERIAL, ok=False)
    assert "PreconditionFailedException" in early.stderr
    click(board, clicks, gestures.single(120), "SINGLE")
    board.expect("led", WAIT_S, pattern="published")  # the page's solid green: PUBACK seen
    assert run_json(home, DEVICES, "finalize-device-claim", "--device-id", SERIAL) == {
        "State": "CLAIMED"
    }

    # project, placement, association
    create = tmp_path / "create-project.json"
    create.write_text(json.dumps(seed.CREATE_PROJECT_JSON))
    run(home, PROJECTS, "create-project", "--cli-input-json", f"file://{create}")
    place = ("--project-name", "SeattleDumpsters", "--placement-name", "customer217")
    attributes = seed.DESCRIBE_PLACEMENT["placement"]["attributes"]
    run(home, PROJECTS, "create-placement", *place, "--attributes", json.dumps(attributes))
    template = ("--device-template-name", "empty-dumpster-request")
    run(
        home, PROJECTS, "associate-device-with-placement", *place, *template, "--device-id", SERIAL
    )
    described = run_json(home, DEVICES, "describe-device", "--device-id", SERIAL)
    assert seed.shape(described) == seed.shape(seed.DESCRIBE_DEVICE)
    assert described["DeviceDescription"]["Enabled"] is False

    # presses while disabled: events, no callback
    click(board, clicks, gestures.single(120), "SINGLE")
    click(board, clicks, gestures.double(100, 150, 100), "DOUBLE")
    seen = events(home)
    assert [e["clickType"] for e in seen] == ["SINGLE", "SINGLE", "DOUBLE"]
    assert [e["remainingLife"] for e in seen] == pytest.approx([99.95, 99.9, 99.85])
    assert {e["certificateId"] for e in seen} == {setup.certificate_id}
    methods = run_json(home, DEVICES, "get-device-methods", "--device-id", SERIAL)
    assert methods == seed.GET_DEVICE_METHODS
    invoke = tmp_path / "invoke-device-method.json"
    invoke.write_text(json.dumps({**seed.INVOKE_HEALTH_JSON, "DeviceId": SERIAL}))
    health = run_json(
        home, DEVICES, "invoke-device-method", "--cli-input-json", f"file://{invoke}"
    )
    assert json.loads(health["DeviceMethodResponse"]) == {"remainingLife": 99.85}

    # enabled, with the template's callback: one payload per press
    run(home, DEVICES, "update-device-state", "--device-id", SERIAL, "--enabled")
    callbacks = {"empty-dumpster-request": {"callbackOverrides": {"onClickCallback": PICKUP}}}
    run(home, PROJECTS, "update-project", "--project-name", "SeattleDumpsters",
        "--placement-template", json.dumps({"deviceTemplates": callbacks}))  # fmt: skip
    assert invoker.calls == []
    click(board, clicks, gestures.long(1900), "LONG")
    ((arn, payload),) = invoker.wait_for(1)
    check_click_payload(payload)
    assert arn == PICKUP
    assert payload["deviceEvent"]["buttonClicked"]["clickType"] == "LONG"
    assert payload["deviceInfo"]["deviceId"] == SERIAL
    assert payload["placementInfo"] == {
        "projectName": "SeattleDumpsters",
        "placementName": "customer217",
        "attributes": {"City": "Seattle", **attributes},
        "devices": {"empty-dumpster-request": SERIAL},
    }
    assert (
        payload["deviceEvent"]["buttonClicked"]["reportedTime"] == events(home)[-1]["reportedTime"]
    )

    # disabled again: recorded, not delivered
    run(home, DEVICES, "update-device-state", "--device-id", SERIAL, "--no-enabled")
    click(board, clicks, gestures.single(120), "SINGLE")
    assert len(events(home)) == 5
    assert len(invoker.calls) == 1

    # tags and teardown
    device_arn = described["DeviceDescription"]["Arn"]
    run(home, DEVICES, "tag-resource", "--resource-arn", device_arn, "--tags",
        json.dumps(seed.DEVICE_TAGS_JSON["Tags"]))  # fmt: skip
    assert (
        run_json(home, DEVICES, "list-devices")["Devices"][0]["Tags"]
        == (seed.DEVICE_TAGS_JSON["Tags"])
    )
    run(home, DEVICES, "untag-resource", "--resource-arn", device_arn, "--tag-keys",
        "Driver Phone", "Driver")  # fmt: skip
    refused = run(home, DEVICES, "unclaim-device", "--device-id", SERIAL, ok=False)
    assert "disassociate-device-from-placement first" in refused.stderr
    run(home, PROJECTS, "disassociate-device-from-placement", *place, *template)
    run(home, PROJECTS, "delete-placement", *place)
    run(home, PROJECTS, "delete-project", "--project-name", "SeattleDumpsters")
    assert run_json(home, PROJECTS, "list-projects") == {"projects": []}
    assert run_json(home, DEVICES, "unclaim-device", "--device-id", SERIAL) == {
        "State": "UNCLAIMED"
    }
    assert run_json(home, DEVICES, "list-devices") == {"Devices": []}


SAT, UNSAT = "G030PM0000E2E002", "G030PM0000E2E003"


def labelled(boards: BoardFactory, runtime: CloudRuntime, serial: str) -> EmulatedBoard:
    """A fresh board given its factory label (the `serial` file) and set up as a customer does."""
    board = emulated(boards)
    board.write_file("serial", serial.encode())
    board.reset()
    board.expect("boot", WAIT_S, reset="hard")
    assert runtime.endpoint is not None
    assert CustomerSetup(local_backend(runtime)).provision(board).serial == serial
    return board


def test_meeting_room_two_emulated_buttons_a_function_per_template(
    boards: BoardFactory, cloud_runtime: CloudRuntime
) -> None:
    """The Developer Guide's meeting-room example: two buttons in one placement, each template's
    function called with the room's attributes and both devices."""
    home = cloud_runtime.home
    clicks = ClickLog(cloud_runtime.cloud.store)
    invoker = RecordingInvoker()
    cloud_runtime.cloud.oneclick.use_functions(invoker)
    room = {
        SAT: labelled(boards, cloud_runtime, SAT),
        UNSAT: labelled(boards, cloud_runtime, UNSAT),
    }

    def press(serial: str, steps: list[gestures.Step], kind: str) -> None:
        board = room[serial]
        board.console.skip_to_end()
        board.press(steps)
        clicks.wait_for_ids(serial, [board.expect("click", WAIT_S, type=kind)["id"]], WAIT_S)

    for serial in room:
        run(home, DEVICES, "initiate-device-claim", "--device-id", serial)
        press(serial, gestures.single(120), "SINGLE")
        run(home, DEVICES, "finalize-device-claim", "--device-id", serial)
        run(home, DEVICES, "update-device-state", "--device-id", serial, "--enabled")
    run(home, PROJECTS, "create-project", "--project-name", "MeetingRoomSat",
        "--placement-template", json.dumps(MEETING_ROOM_TEMPLATE))  # fmt: skip
    place = ("--project-name", "MeetingRoomSat", "--placement-name", "Room1001")
    run(home, PROJECTS, "create-placement", *place, "--attributes", '{"MeetingRoomNum": "1001"}')
    for serial, name in ((SAT, "Satisfied"), (UNSAT, "Unsatisfied")):
        run(home, PROJECTS, "associate-device-with-placement", *place,
            "--device-template-name", name, "--device-id", serial)  # fmt: skip

    press(SAT, gestures.single(120), "SINGLE")
    press(UNSAT, gestures.double(100, 150, 100), "DOUBLE")
    calls = invoker.wait_for(2)
    assert [arn for arn, _ in calls] == [SAT_LAMBDA, UNSAT_LAMBDA]
    for (_, payload), (serial, kind) in zip(
        calls, ((SAT, "SINGLE"), (UNSAT, "DOUBLE")), strict=True
    ):
        check_click_payload(payload)
        assert payload["deviceInfo"]["deviceId"] == serial
        assert payload["deviceEvent"]["buttonClicked"]["clickType"] == kind
        assert payload["placementInfo"] == {
            "projectName": "MeetingRoomSat",
            "placementName": "Room1001",
            "attributes": {"Building": "Headquarters", "MeetingRoomNum": "1001"},
            "devices": {"Satisfied": SAT, "Unsatisfied": UNSAT},
        }
