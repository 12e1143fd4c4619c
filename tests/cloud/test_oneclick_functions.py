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


def _zip(source: str = FUNCTION) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("callback.py", source)
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


BOOM = """
def handler(event, context):
    raise RuntimeError("the pickup service is down")
"""
FLAKY = "G030PM0FUNCTION2"


def test_a_failing_or_missing_callback_function_loses_no_click(cloud, device) -> None:
    """A callback function that raises: its event is retried and kept as failed, the error
    counted and logged; one that does not exist: a CallbackInvocationError counted. Every click
    stays a device event, and the next click still reaches a working function."""
    runtime: CloudRuntime = cloud
    api = runtime.cloud
    boom = api.functions.create_function("Boom", "python3.12", "callback.handler", _zip(BOOM))
    good = api.functions.create_function("Good", "python3.12", "callback.handler", _zip())
    missing = "arn:aws:lambda:us-east-1:123456789012:function:NoSuchFunction"
    clicks = ClickLog(api.store)
    button = device(FLAKY)
    projects = api.oneclick.projects

    def press() -> None:
        message = click_message(FLAKY)
        button.publish(f"iotbutton/{FLAKY}", message)
        clicks.wait_for_ids(FLAKY, [json.loads(message)["eventId"]], WAIT_S)

    def calling(arn: str) -> None:
        templates = {"b": {"callbackOverrides": {"onClickCallback": arn}}}
        projects.update_project("P", placement_template={"deviceTemplates": templates})

    api.oneclick.devices.initiate_device_claim(FLAKY)
    press()
    api.oneclick.devices.finalize_device_claim(FLAKY)
    api.oneclick.devices.update_device_state(FLAKY, enabled=True)
    projects.create_project("P", placement_template={"deviceTemplates": {"b": {}}})
    projects.create_placement("P", "p1")
    projects.associate_device_with_placement("P", "p1", FLAKY, "b")

    calling(boom["FunctionArn"])
    press()
    deadline = time.monotonic() + WAIT_S
    while [e["state"] for e in api.functions.events("Boom")] != ["failed"]:
        assert time.monotonic() < deadline, api.functions.events("Boom")
        time.sleep(0.1)
    (kept,) = api.functions.events("Boom")
    check_click_payload(kept["event"])
    assert kept["attempts"] == 3 and "the pickup service is down" in kept["lastError"]
    assert api.functions.metrics("Boom")["Errors"] == 3
    logged = [r["message"] for r in api.functions.store.log_events("/aws/lambda/Boom", 0)]
    assert any("RuntimeError" in line for line in logged)

    calling(missing)
    press()
    # the click is visible once committed; its callbacks run just after, outside the transaction
    deadline = time.monotonic() + WAIT_S
    while api.store.counter("oneclick_callback_invocation_errors") != 1:
        assert time.monotonic() < deadline, "the missing function was never counted"
        time.sleep(0.05)

    calling(good["FunctionArn"])
    press()
    deadline = time.monotonic() + WAIT_S
    while not _logged_events(runtime, "Good"):
        assert time.monotonic() < deadline, "the working function never ran"
        time.sleep(0.05)
    events = api.oneclick.devices.list_device_events(
        FLAKY, "2000-01-01T00:00:00.000Z", "2100-01-01T00:00:00.000Z"
    )["Events"]
    assert len(events) == 4  # the claim's press and the three callbacks' clicks
