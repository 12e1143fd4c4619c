"""1-Click devices on the cloud model (no broker): the claim by a press, describe/list, state,
methods, events and tags, with the shapes of "Using AWS IoT 1-Click with the AWS CLI"."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from oneclick_kit import check_std_event, click_message, iso_now

from rig.cloud.api import Cloud
from rig.cloud.core.errors import CloudError
from rig.cloud.core.store import Store
from rig.cloud.oneclick.store import ONECLICK_MIGRATIONS, OneClickStore

SERIAL = "G030PM0123456789"
WAIT_S = 30.0


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    api = Cloud(tmp_path)
    yield api
    api.close()


def press(cloud: Cloud, serial: str = SERIAL, click_type: str = "SINGLE", **kw: str) -> None:
    assert cloud.click_log.record(f"iotbutton/{serial}", click_message(serial, click_type, **kw))


def claimed(cloud: Cloud, serial: str = SERIAL) -> None:
    cloud.provision_button(serial)
    devices = cloud.oneclick.devices
    assert devices.initiate_device_claim(serial) == {"State": "CLAIM_INITIATED"}
    press(cloud, serial)
    assert devices.finalize_device_claim(serial) == {"State": "CLAIMED"}


def error_code(call, *args, **kwargs) -> str:
    with pytest.raises(CloudError) as caught:
        call(*args, **kwargs)
    return caught.value.code


def test_finalize_needs_a_press_after_the_initiate(cloud: Cloud) -> None:
    devices = cloud.oneclick.devices
    cloud.provision_button(SERIAL)
    press(cloud)  # before the claim began: does not count
    assert error_code(devices.finalize_device_claim, SERIAL) == "PreconditionFailedException"
    devices.initiate_device_claim(SERIAL)
    assert error_code(devices.finalize_device_claim, SERIAL) == "PreconditionFailedException"
    assert error_code(devices.describe_device, SERIAL) == "ResourceNotFoundException"
    press(cloud)
    assert devices.finalize_device_claim(SERIAL) == {"State": "CLAIMED"}
    described = devices.describe_device(SERIAL)["DeviceDescription"]
    keys = {"Arn", "Attributes", "DeviceId", "Enabled", "RemainingLife", "Type", "Tags"}
    assert set(described) == keys
    assert described["Arn"].endswith(f":devices/{SERIAL}")
    assert described["Arn"].startswith("arn:aws:iot1click:")
    assert (described["Enabled"], described["Type"], described["Attributes"]) == (
        False,
        "button",
        {},
    )
    assert described["RemainingLife"] == pytest.approx(99.9)  # two clicks of 2000
    assert error_code(devices.initiate_device_claim, SERIAL) == "ResourceConflictException"
    assert error_code(devices.finalize_device_claim, SERIAL) == "ResourceConflictException"


def test_finalize_the_moment_the_click_is_visible_is_claimed(cloud: Cloud) -> None:
    """The guide's claim: initiate, press, finalize. A finalize from another connection (the
    CLI, a test) issued the moment the clicks API shows the press finds the 1-Click event too:
    the layer records it in the click's own transaction (C-12)."""
    devices = cloud.oneclick.devices
    cloud.provision_button(SERIAL)
    devices.initiate_device_claim(SERIAL)
    message = click_message(SERIAL)
    event_id = json.loads(message)["eventId"]
    answered = threading.Event()
    answers: list[Any] = []

    def finalize_once_visible() -> None:  # its own thread, so its own connection
        deadline = time.monotonic() + WAIT_S
        while event_id not in {c.event_id for c in cloud.clicks(SERIAL)}:
            assert time.monotonic() < deadline, "the click never became visible"
            time.sleep(0.001)
        try:
            answers.append(devices.finalize_device_claim(SERIAL))
        except CloudError as exc:
            answers.append(f"{exc.code}: {exc}")
        answered.set()

    def widen(click: Any) -> None:
        """First observer: holds the moment between the click's visibility and the 1-Click
        event open (the cloud service under load) until the finalize answered or 1 s passed."""
        del click
        answered.wait(1.0)

    cloud.click_log.observers.insert(0, widen)
    finalizer = threading.Thread(target=finalize_once_visible)
    finalizer.start()
    assert cloud.click_log.record(f"iotbutton/{SERIAL}", message)
    finalizer.join(WAIT_S)
    assert answers == [{"State": "CLAIMED"}]


def test_a_press_counts_by_arriving_after_the_initiate_not_by_the_clock(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "After initiate" is the order the cloud saw things in: a press in the same millisecond
    just before the initiate does not claim, one after it does even if the host's clock stepped
    back between them (an NTP correction)."""
    devices = cloud.oneclick.devices
    cloud.provision_button(SERIAL)
    now_s = [1_800_000_000.0]
    monkeypatch.setattr(time, "time", lambda: now_s[0])
    press(cloud, reported="2027-01-15T08:00:00.000Z")  # just before: the same millisecond
    devices.initiate_device_claim(SERIAL)
    assert error_code(devices.finalize_device_claim, SERIAL) == "PreconditionFailedException"
    now_s[0] -= 5.0  # the host's clock stepped back
    press(cloud, reported="2027-01-15T08:00:01.000Z")
    assert devices.finalize_device_claim(SERIAL) == {"State": "CLAIMED"}
    events = devices.list_device_events(
        SERIAL, from_time_stamp="2027-01-01T00:00:00Z", to_time_stamp="2027-02-01T00:00:00Z"
    )["Events"]
    assert [json.loads(e["StdEvent"])["reportedTime"] for e in events] == [
        "2027-01-15T08:00:01.000Z"
    ], "only the press after the initiate is this claim's"


def test_a_claim_begun_before_the_sequence_migration_keeps_its_events(tmp_path: Path) -> None:
    """A rig home from before claims were ordered by event sequence: an initiated claim keeps
    its old bound (events received at or after its start), the earlier click stays out."""
    store = Store(tmp_path / "cloud.db")
    store.migrate("oneclick", ONECLICK_MIGRATIONS[:1])
    with store.write() as db:
        db.execute(
            "INSERT INTO oneclick_devices (device_id, state, claim_started_ms)"
            " VALUES (?, 'CLAIM_INITIATED', 2000)",
            (SERIAL,),
        )
        for event_id, received_ms in (("a" * 16, 1999), ("b" * 16, 2000)):
            db.execute(
                "INSERT INTO oneclick_events (device_id, event_id, click_type, reported_time,"
                " reported_ms, received_ms, certificate_id, remaining_life)"
                " VALUES (?, ?, 'SINGLE', '2027-01-15T08:00:00.000Z', 0, ?, '', 100)",
                (SERIAL, event_id, received_ms),
            )
    OneClickStore(store)
    row = store.read().execute(
        "SELECT claim_after_seq FROM oneclick_devices WHERE device_id = ?", (SERIAL,)
    )
    assert row.fetchone()[0] == 1, "after the click before the claim (seq 1), not after seq 2"
    store.close()


def test_unknown_and_unsupported_device_ids_are_refused(cloud: Cloud) -> None:
    devices = cloud.oneclick.devices
    assert error_code(devices.initiate_device_claim, SERIAL) == "ResourceNotFoundException"
    cloud.provision_button("G030PT0212345678")  # a classic IoT button: not 1-Click
    assert error_code(devices.initiate_device_claim, "G030PT0212345678") == (
        "InvalidRequestException"
    )
    assert error_code(devices.initiate_device_claim, "ESP32-0A1B2C") == "InvalidRequestException"
    assert devices.list_devices() == {"Devices": []}


def test_events_in_a_window_with_remaining_life_falling_per_click(cloud: Cloud) -> None:
    claimed(cloud)
    devices = cloud.oneclick.devices
    press(cloud, click_type="SINGLE")
    press(cloud, click_type="DOUBLE")
    window: dict[str, Any] = {
        "from_time_stamp": iso_now(-60_000),
        "to_time_stamp": iso_now(60_000),
    }
    events = devices.list_device_events(SERIAL, **window)["Events"]
    assert [e["Device"] for e in events] == [
        {"Attributes": {}, "DeviceId": SERIAL, "Type": "button"}
    ] * 3
    std = [check_std_event(e["StdEvent"]) for e in events]
    assert [e["clickType"] for e in std] == ["SINGLE", "SINGLE", "DOUBLE"]
    assert [e["remainingLife"] for e in std] == pytest.approx([99.95, 99.9, 99.85])
    certificate = cloud.list_thing_principals(SERIAL)["principals"][0].rsplit("/", 1)[1]
    assert {e["certificateId"] for e in std} == {certificate}
    before = devices.list_device_events(
        SERIAL, from_time_stamp="2019-07-17T15:45:12.880Z", to_time_stamp=iso_now(-60_000)
    )
    assert before == {"Events": []}
    assert (
        error_code(
            devices.list_device_events,
            SERIAL,
            from_time_stamp="yesterday",
            to_time_stamp=iso_now(),
        )
        == "InvalidRequestException"
    )
    page = devices.list_device_events(SERIAL, max_results=2, **window)
    assert len(page["Events"]) == 2
    rest = devices.list_device_events(SERIAL, next_token=page["NextToken"], **window)
    assert [e["StdEvent"] for e in rest["Events"]] == [events[2]["StdEvent"]]


def test_methods_list_get_health_and_the_parameter_rule(cloud: Cloud) -> None:
    claimed(cloud)
    devices = cloud.oneclick.devices
    assert devices.get_device_methods(SERIAL) == {
        "DeviceMethods": [
            {"MethodName": "getDeviceHealthParameters"},
            {"MethodName": "setDeviceHealthMonitorCallback"},
            {"MethodName": "getDeviceHealthMonitorCallback"},
            {"MethodName": "setOnClickCallback"},
            {"MethodName": "getOnClickCallback"},
        ]
    }
    health = {"DeviceType": "device", "MethodName": "getDeviceHealthParameters"}
    answer = devices.invoke_device_method(SERIAL, health)
    assert json.loads(answer["DeviceMethodResponse"]) == {"remainingLife": 99.95}
    with pytest.raises(CloudError) as caught:
        devices.invoke_device_method(SERIAL, health, "")
    assert (caught.value.code, caught.value.message) == (
        "InvalidRequestException",
        "A request parameter was invalid.",
    )
    on_click = {"DeviceType": "button", "MethodName": "setOnClickCallback"}
    arn = "arn:aws:lambda:us-east-1:123456789012:function:MyButtonListener"
    params = json.dumps({"deviceId": SERIAL, "callback": {"awsLambdaArn": arn}})
    assert devices.invoke_device_method(SERIAL, on_click, params) == {}
    got = devices.invoke_device_method(
        SERIAL, {"DeviceType": "button", "MethodName": "getOnClickCallback"}
    )
    assert json.loads(got["DeviceMethodResponse"]) == {"callback": {"awsLambdaArn": arn}}
    for method, parameters in [
        ({"DeviceType": "device", "MethodName": "setOnClickCallback"}, params),  # wrong type
        ({"DeviceType": "button", "MethodName": "reboot"}, None),
        (on_click, "{not json"),
        (
            on_click,
            json.dumps({"deviceId": "G030PM9999999999", "callback": {"awsLambdaArn": arn}}),
        ),
    ]:
        assert error_code(devices.invoke_device_method, SERIAL, method, parameters) == (
            "InvalidRequestException"
        )
    assert json.loads(
        devices.invoke_device_method(SERIAL, {"MethodName": "getOnClickCallback"})[
            "DeviceMethodResponse"
        ]
    ) == {"callback": {"awsLambdaArn": arn}}, "a refused call changed the callback"


def test_enable_tags_unclaim_and_claim_again(cloud: Cloud) -> None:
    claimed(cloud)
    devices = cloud.oneclick.devices
    devices.update_device_state(SERIAL, enabled=True)
    assert devices.list_devices(device_type="button")["Devices"][0]["Enabled"] is True
    devices.update_device_state(SERIAL, enabled=False)
    assert devices.describe_device(SERIAL)["DeviceDescription"]["Enabled"] is False
    device_arn = devices.describe_device(SERIAL)["DeviceDescription"]["Arn"]
    devices.tag_resource(device_arn, {"Driver": "John Smith", "Driver Phone": "206-123-4567"})
    assert devices.list_tags_for_resource(device_arn) == {
        "Tags": {"Driver": "John Smith", "Driver Phone": "206-123-4567"}
    }
    assert devices.list_devices()["Devices"][0]["Tags"]["Driver"] == "John Smith"
    assert (
        error_code(devices.tag_resource, device_arn, {"aws:x": "1"}) == "InvalidRequestException"
    )
    devices.untag_resource(device_arn, ["Driver Phone", "Driver"])
    assert devices.list_tags_for_resource(device_arn) == {"Tags": {}}
    assert devices.unclaim_device(SERIAL) == {"State": "UNCLAIMED"}
    assert devices.list_devices() == {"Devices": []}
    assert error_code(devices.unclaim_device, SERIAL) == "ResourceNotFoundException"
    assert devices.initiate_device_claim(SERIAL) == {"State": "CLAIM_INITIATED"}
    press(cloud)
    devices.finalize_device_claim(SERIAL)
    window: dict[str, Any] = {
        "from_time_stamp": iso_now(-60_000),
        "to_time_stamp": iso_now(60_000),
    }
    events = devices.list_device_events(SERIAL, **window)["Events"]
    assert len(events) == 1, "the previous claim's events are not the new owner's"
    assert check_std_event(events[0]["StdEvent"])["remainingLife"] == pytest.approx(99.9)


def test_claim_code_claims_its_devices_only_lte_m_ones(cloud: Cloud) -> None:
    devices = cloud.oneclick.devices
    lte = [f"B9GHXT00000000{i:02d}" for i in range(3)]
    for serial in [*lte, SERIAL]:
        cloud.provision_button(serial)
    assert error_code(devices.register_claim_code, "C-123EXAMPLE", [SERIAL]) == (
        "InvalidRequestException"
    )
    devices.register_claim_code("C-123EXAMPLE", lte)
    assert error_code(devices.claim_devices_by_claim_code, "C-NOTACODE00") == (
        "InvalidRequestException"
    )
    assert devices.claim_devices_by_claim_code("C-123EXAMPLE") == {
        "Total": 3,
        "ClaimCode": "C-123EXAMPLE",
    }
    assert [d["DeviceId"] for d in devices.list_devices()["Devices"]] == lte
