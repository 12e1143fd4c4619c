"""1-Click callbacks reach the local Lambda functions `Cloud` hands in: a claimed, enabled,
placed button's click runs the project's onClickCallback function in its own process, with the
documented payload as its event."""

from __future__ import annotations

import io
import json
import time
import zipfile
from typing import Any

from oneclick_kit import check_click_payload, click_message

from rig.cloud.clicks.store import ClickLog
from rig.cloud.runtime import CloudRuntime

SERIAL = "G030PM0FUNCTION1"
FUNCTION = """
import json

def handler(event, context):
    print("callback " + json.dumps(event, sort_keys=True))
"""
WAIT_S = 30.0


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("callback.py", FUNCTION)
    return buffer.getvalue()


def _logged_events(runtime: CloudRuntime, name: str) -> list[dict[str, Any]]:
    rows = runtime.cloud.functions.store.log_events(f"/aws/lambda/{name}", 0)
    return [
        json.loads(row["message"][len("callback ") :])
        for row in rows
        if row["message"].startswith("callback ")
    ]


def test_a_placed_buttons_click_runs_the_templates_function(cloud, device) -> None:
    runtime: CloudRuntime = cloud
    api = runtime.cloud
    arn = api.functions.create_function(
        "DumpsterPickup", "python3.12", "callback.handler", _zip()
    )["FunctionArn"]
    clicks = ClickLog(api.store)
    button = device(SERIAL)

    def press() -> None:
        message = click_message(SERIAL)
        button.publish(f"iotbutton/{SERIAL}", message)
        clicks.wait_for_ids(SERIAL, [json.loads(message)["eventId"]], WAIT_S)
        time.sleep(0.2)  # the 1-Click event is stored just after the click (observer)

    api.oneclick.devices.initiate_device_claim(SERIAL)
    press()
    api.oneclick.devices.finalize_device_claim(SERIAL)
    api.oneclick.devices.update_device_state(SERIAL, enabled=True)
    api.oneclick.projects.create_project(
        "Dumpsters",
        placement_template={
            "defaultAttributes": {"location": "TBD"},
            "deviceTemplates": {"pickup": {"callbackOverrides": {"onClickCallback": arn}}},
        },
    )
    api.oneclick.projects.create_placement("Dumpsters", "customer217", {"location": "9th Ave"})
    api.oneclick.projects.associate_device_with_placement(
        "Dumpsters", "customer217", SERIAL, "pickup"
    )
    press()

    deadline = time.monotonic() + WAIT_S
    while not (events := _logged_events(runtime, "DumpsterPickup")):
        assert time.monotonic() < deadline, "the callback function never ran"
        time.sleep(0.05)
    (event,) = events
    check_click_payload(event)
    assert event["deviceInfo"]["deviceId"] == SERIAL
    assert event["placementInfo"]["attributes"] == {"location": "9th Ave"}
    assert api.functions.metrics("DumpsterPickup") == {
        "Invocations": 1,
        "Errors": 0,
        "Timeouts": 0,
    }
