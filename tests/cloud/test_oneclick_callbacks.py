"""Recorded clicks to 1-Click callbacks on the cloud model: the guide's payloads (validated against
a JSON Schema written from its examples), which callback, and when none is delivered."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from oneclick_kit import (
    CLICK_EVENT_SCHEMA,
    GUIDE_CLICK_EXAMPLE,
    GUIDE_HEALTH_EXAMPLE,
    HEALTH_EVENT_SCHEMA,
    MEETING_ROOM_TEMPLATE,
    SAT_LAMBDA,
    UNSAT_LAMBDA,
    RecordingInvoker,
    check_click_payload,
    check_health_payload,
    click_message,
)

from rig.cloud.api import Cloud
from rig.cloud.core.errors import CloudError
from rig.cloud.oneclick.delivery import CALLBACK_ERRORS

SAT, UNSAT = "G030PM12345678", "G030PM23456789"  # the guide's meeting-room serials
DEVICE_LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:MyButtonListener"


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    api = Cloud(tmp_path)
    yield api
    api.close()


@pytest.fixture
def invoker(cloud: Cloud) -> RecordingInvoker:
    recording = RecordingInvoker()
    cloud.oneclick.use_functions(recording)
    return recording


def press(cloud: Cloud, serial: str, click_type: str = "SINGLE") -> None:
    assert cloud.click_log.record(f"iotbutton/{serial}", click_message(serial, click_type))


def claim(cloud: Cloud, serial: str, enabled: bool = True) -> None:
    devices = cloud.oneclick.devices
    cloud.provision_button(serial)
    devices.initiate_device_claim(serial)
    press(cloud, serial)
    devices.finalize_device_claim(serial)
    devices.update_device_state(serial, enabled=enabled)


def meeting_room(cloud: Cloud) -> None:
    """The guide's MeetingRoomSat project: two templates, a Lambda each, one room placed."""
    projects = cloud.oneclick.projects
    projects.create_project("MeetingRoomSat", placement_template=MEETING_ROOM_TEMPLATE)
    projects.create_placement("MeetingRoomSat", "Room1001", {"MeetingRoomNum": "1001"})
    for serial, template in ((SAT, "Satisfied"), (UNSAT, "Unsatisfied")):
        claim(cloud, serial)
        projects.associate_device_with_placement("MeetingRoomSat", "Room1001", serial, template)


def test_the_schema_accepts_the_guides_examples_and_refuses_extra_keys() -> None:
    jsonschema.validate(GUIDE_CLICK_EXAMPLE, CLICK_EVENT_SCHEMA)
    jsonschema.validate(GUIDE_HEALTH_EXAMPLE, HEALTH_EVENT_SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**GUIDE_CLICK_EXAMPLE, "extra": 1}, CLICK_EVENT_SCHEMA)


def test_meeting_room_each_button_calls_its_templates_function(
    cloud: Cloud, invoker: RecordingInvoker
) -> None:
    meeting_room(cloud)
    press(cloud, SAT)
    press(cloud, UNSAT, "DOUBLE")
    calls = invoker.wait_for(2)
    assert [arn for arn, _ in calls] == [SAT_LAMBDA, UNSAT_LAMBDA]
    for _, payload in calls:
        check_click_payload(payload)
    sat, unsat = (payload for _, payload in calls)
    assert sat["deviceEvent"]["buttonClicked"]["clickType"] == "SINGLE"
    assert unsat["deviceEvent"]["buttonClicked"]["clickType"] == "DOUBLE"
    assert sat["deviceInfo"]["deviceId"] == SAT
    assert sat["deviceInfo"]["remainingLife"] == pytest.approx(99.9)
    assert sat["deviceInfo"]["attributes"] == {
        "projectRegion": "us-east-1",
        "projectName": "MeetingRoomSat",
        "placementName": "Room1001",
        "deviceTemplateName": "Satisfied",
    }
    assert (
        sat["placementInfo"]
        == unsat["placementInfo"]
        == {
            "projectName": "MeetingRoomSat",
            "placementName": "Room1001",
            # the default, and TBD replaced by the room's own value (C-10)
            "attributes": {"Building": "Headquarters", "MeetingRoomNum": "1001"},
            "devices": {"Satisfied": SAT, "Unsatisfied": UNSAT},
        }
    )


def test_disabled_devices_record_but_do_not_deliver(
    cloud: Cloud, invoker: RecordingInvoker
) -> None:
    meeting_room(cloud)
    cloud.oneclick.devices.update_device_state(SAT, enabled=False)
    press(cloud, SAT)
    press(cloud, UNSAT)
    calls = invoker.wait_for(1)
    assert [arn for arn, _ in calls] == [UNSAT_LAMBDA]
    events = cloud.oneclick.devices.list_device_events(
        SAT, from_time_stamp="2020-01-01T00:00:00.000Z", to_time_stamp="2100-01-01T00:00:00.000Z"
    )["Events"]
    assert len(events) == 2, "the claim press and the click made while disabled"


def test_an_unplaced_device_with_its_own_callback_gets_no_placement_info(
    cloud: Cloud, invoker: RecordingInvoker
) -> None:
    claim(cloud, SAT)
    press(cloud, SAT)
    assert invoker.calls == [], "no callback set: nothing to invoke"
    cloud.oneclick.devices.invoke_device_method(
        SAT,
        {"DeviceType": "button", "MethodName": "setOnClickCallback"},
        f'{{"callback": {{"awsLambdaArn": "{DEVICE_LAMBDA}"}}}}',
    )
    press(cloud, SAT, "LONG")
    ((arn, payload),) = invoker.wait_for(1)
    check_click_payload(payload)
    assert arn == DEVICE_LAMBDA
    assert "placementInfo" not in payload
    assert payload["deviceInfo"]["attributes"] == {}
    assert payload["deviceEvent"]["buttonClicked"]["clickType"] == "LONG"


def test_the_templates_override_wins_over_the_device_method(
    cloud: Cloud, invoker: RecordingInvoker
) -> None:
    meeting_room(cloud)
    cloud.oneclick.devices.invoke_device_method(
        SAT,
        {"DeviceType": "button", "MethodName": "setOnClickCallback"},
        f'{{"callback": {{"awsLambdaArn": "{DEVICE_LAMBDA}"}}}}',
    )
    press(cloud, SAT)
    assert [arn for arn, _ in invoker.wait_for(1)] == [SAT_LAMBDA]
    cloud.oneclick.projects.disassociate_device_from_placement(
        "MeetingRoomSat", "Room1001", "Satisfied"
    )
    press(cloud, SAT)
    arn, payload = invoker.wait_for(2)[1]
    assert arn == DEVICE_LAMBDA and "placementInfo" not in payload


def test_health_callback_once_when_remaining_life_falls_below_the_threshold(
    cloud: Cloud, invoker: RecordingInvoker
) -> None:
    claim(cloud, SAT)  # one click: 99.95
    health_arn = "arn:aws:lambda:us-east-1:123456789012:function:Health"
    cloud.oneclick.devices.invoke_device_method(
        SAT,
        {"DeviceType": "device", "MethodName": "setDeviceHealthMonitorCallback"},
        f'{{"callback": {{"awsLambdaArn": "{health_arn}"}},'
        ' "condition": {"remainingLifeLowerThan": 99.88}}',
    )
    for _ in range(3):  # 99.9, 99.85 (crossing), 99.8
        press(cloud, SAT)
    ((arn, payload),) = invoker.wait_for(1)
    check_health_payload(payload)
    assert arn == health_arn
    assert payload["deviceEvent"]["deviceHealthMonitor"]["condition"] == {
        "remainingLifeLowerThan": 99.88
    }
    assert payload["deviceInfo"]["remainingLife"] == pytest.approx(99.85)


class Failing:
    def invoke_event(self, function_arn: str, event: dict[str, Any]) -> None:
        del event
        raise RuntimeError(f"function runtime down: {function_arn}")


def test_a_failing_invoker_is_counted_and_the_click_kept(cloud: Cloud) -> None:
    meeting_room(cloud)
    cloud.oneclick.use_functions(Failing())
    press(cloud, SAT)
    assert cloud.store.counter(CALLBACK_ERRORS) == 1
    assert len(cloud.clicks(SAT)) == 2
    events = cloud.oneclick.devices.list_device_events(
        SAT, from_time_stamp="2020-01-01T00:00:00Z", to_time_stamp="2100-01-01T00:00:00Z"
    )["Events"]
    assert len(events) == 2


class Observing:
    """An invoker that notes, at each invocation, whether a transaction is open on its thread
    and what another connection sees: the click and its 1-Click event, committed or not."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.seen: list[tuple[bool, int, int]] = []

    def invoke_event(self, function_arn: str, event: dict[str, Any]) -> None:
        del function_arn, event
        serial = SAT
        found: list[tuple[int, int]] = []

        def look() -> None:  # its own thread: its own connection, only committed rows
            events = self.cloud.store.read().execute(
                "SELECT COUNT(*) FROM oneclick_events WHERE device_id = ?", (serial,)
            )
            found.append((len(self.cloud.clicks(serial)), int(events.fetchone()[0])))

        other = threading.Thread(target=look)
        other.start()
        other.join(10.0)
        self.seen.append((self.cloud.store.connection().in_transaction, *found[0]))


def test_callbacks_are_invoked_after_the_commit_outside_any_transaction(cloud: Cloud) -> None:
    meeting_room(cloud)  # SAT claimed by one press
    observing = Observing(cloud)
    cloud.oneclick.use_functions(observing)
    press(cloud, SAT)
    assert observing.seen == [(False, 2, 2)], "(in a transaction, clicks seen, events seen)"


def test_a_failing_1click_layer_keeps_the_click_and_writes_no_half_event(
    cloud: Cloud, invoker: RecordingInvoker, monkeypatch: pytest.MonkeyPatch
) -> None:
    meeting_room(cloud)
    delivery = cloud.oneclick.delivery

    def broken(*args: Any) -> Any:  # after the event row was written: it must go too
        del args
        raise RuntimeError("1-Click layer broken")

    with monkeypatch.context() as patched:
        patched.setattr(delivery, "_callbacks", broken)
        press(cloud, SAT)
    assert len(cloud.clicks(SAT)) == 2, "the click stays recorded"
    count = cloud.store.read().execute(
        "SELECT COUNT(*) FROM oneclick_events WHERE device_id = ?", (SAT,)
    )
    assert count.fetchone()[0] == 1, "only the claim press: the broken click's event rolled back"
    assert not cloud.store.connection().in_transaction
    press(cloud, SAT)  # the layer works again: the next click is delivered
    assert [arn for arn, _ in invoker.wait_for(1)] == [SAT_LAMBDA]


def test_association_rules(cloud: Cloud) -> None:
    meeting_room(cloud)
    projects = cloud.oneclick.projects
    third = "G030PM34567890"
    cloud.provision_button(third)
    with pytest.raises(CloudError, match="not claimed"):
        projects.associate_device_with_placement("MeetingRoomSat", "Room1001", third, "Satisfied")
    claim(cloud, third)
    projects.create_placement("MeetingRoomSat", "Room1002")
    for args, code in [
        (("Room1001", third, "Satisfied"), "ResourceConflictException"),  # slot taken
        (("Room1002", SAT, "Satisfied"), "ResourceConflictException"),  # placed elsewhere
        (("Room1002", third, "Towels"), "InvalidRequestException"),  # no such template
        (("Room9999", third, "Satisfied"), "ResourceNotFoundException"),
    ]:
        with pytest.raises(CloudError) as caught:
            projects.associate_device_with_placement("MeetingRoomSat", *args)
        assert caught.value.code == code, args
    with pytest.raises(CloudError) as caught:
        cloud.oneclick.devices.unclaim_device(SAT)
    assert caught.value.code == "InvalidRequestException"
    with pytest.raises(CloudError) as caught:
        projects.delete_placement("MeetingRoomSat", "Room1001")
    assert caught.value.code == "InvalidRequestException"
    assert projects.get_devices_in_placement("MeetingRoomSat", "Room1002") == {"devices": {}}
    assert projects.get_devices_in_placement("MeetingRoomSat", "Room1001") == {
        "devices": {"Satisfied": SAT, "Unsatisfied": UNSAT}
    }
