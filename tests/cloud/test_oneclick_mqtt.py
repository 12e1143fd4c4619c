"""The Developer Guide's meeting-room example over the real broker and cloud service: two buttons
(MQTT clients with their own certificates, publishing click messages on iotbutton/<serial> as the
firmware does) in one placement, a function per device template. A resent click (same eventId)
is one event and one callback."""

from __future__ import annotations

import json

from oneclick_kit import RecordingInvoker, check_click_payload, click_message

from rig.cloud.clicks.store import ClickLog
from rig.cloud.runtime import CloudRuntime

SAT, UNSAT = "G030PM12345678", "G030PM23456789"
SAT_LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:SatLambda"
UNSAT_LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:UnsatLambda"
WAIT_S = 30.0


def test_meeting_room_two_buttons_one_placement_a_function_each(cloud, device) -> None:
    runtime: CloudRuntime = cloud
    api = runtime.cloud
    invoker = RecordingInvoker()
    api.oneclick.use_functions(invoker)
    clicks = ClickLog(api.store)
    buttons = {serial: device(serial) for serial in (SAT, UNSAT)}

    def press(serial: str, message: bytes | None = None) -> bytes:
        message = message or click_message(serial)
        buttons[serial].publish(f"iotbutton/{serial}", message)
        clicks.wait_for_ids(serial, [json.loads(message)["eventId"]], WAIT_S)
        return message

    for serial in buttons:
        api.oneclick.devices.initiate_device_claim(serial)
        press(serial)
        api.oneclick.devices.finalize_device_claim(serial)
        api.oneclick.devices.update_device_state(serial, enabled=True)
    api.oneclick.projects.create_project(
        "MeetingRoomSatisfaction",
        description="Project used to track customer meeting room satisfaction",
        placement_template={
            "defaultAttributes": {"Building": "Headquarters", "Room": "TBD"},
            "deviceTemplates": {
                "Satisfied": {"callbackOverrides": {"onClickCallback": SAT_LAMBDA}},
                "Unsatisfied": {"callbackOverrides": {"onClickCallback": UNSAT_LAMBDA}},
            },
        },
    )
    api.oneclick.projects.create_placement("MeetingRoomSatisfaction", "Room217", {"Room": "217"})
    for serial, template in ((SAT, "Satisfied"), (UNSAT, "Unsatisfied")):
        api.oneclick.projects.associate_device_with_placement(
            "MeetingRoomSatisfaction", "Room217", serial, template
        )

    sat_click = press(SAT)
    press(UNSAT)
    press(SAT, sat_click)  # the button's resend after a lost PUBACK: same eventId
    calls = invoker.wait_for(2)
    assert [arn for arn, _ in calls] == [SAT_LAMBDA, UNSAT_LAMBDA]
    for (_, payload), serial in zip(calls, (SAT, UNSAT), strict=True):
        check_click_payload(payload)
        assert payload["deviceInfo"]["deviceId"] == serial
        assert payload["placementInfo"] == {
            "projectName": "MeetingRoomSatisfaction",
            "placementName": "Room217",
            "attributes": {"Building": "Headquarters", "Room": "217"},
            "devices": {"Satisfied": SAT, "Unsatisfied": UNSAT},
        }
    press(UNSAT)  # a later click (handled after the resend, in order): no call for the resend
    assert [arn for arn, _ in invoker.wait_for(3)] == [SAT_LAMBDA, UNSAT_LAMBDA, UNSAT_LAMBDA]
    assert clicks.clicks(SAT)[-1].copies == 2
