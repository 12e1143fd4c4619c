"""The customer's path, end to end: a blank emulated button is set up through its own config page
and every press reaches the reference cloud exactly once.

Real firmware (firmware/services.py and the connectivity modules) on the unix port, the real
mosquitto with mutual TLS, the real cloud model recording clicks (rig/cloud/clicks/).
"""

from __future__ import annotations

import datetime
import re

import pytest
from connectivity_kit import WAIT_S, assert_no_leaks, colours, emulated, led_patterns

from rig import gestures
from rig.backends.local import local_backend
from rig.cloud.clicks.store import ClickLog
from rig.cloud.runtime import CloudRuntime
from rig.pytest_plugin.boards import BoardFactory
from rig.strategies.provisioning import CustomerSetup

pytestmark = pytest.mark.e2e

BATTERY_MV = 2950


def test_blank_board_is_set_up_by_the_customer_and_every_press_reaches_the_cloud_once(
    boards: BoardFactory, cloud_runtime: CloudRuntime
) -> None:
    board = emulated(boards)
    board.set_battery(BATTERY_MV)
    assert cloud_runtime.endpoint is not None
    clicks = ClickLog(cloud_runtime.cloud.store)

    # Blank: solid orange, then config mode (blinking blue) by itself.
    board.expect("led", WAIT_S, pattern="unconfigured")
    opened = board.expect("config", WAIT_S, state="open")
    assert opened["essid"].startswith("Button ConfigureMe - ")
    # the README's address (ESP-IDF's soft-AP would be on 192.168.4.1), as the radio reports it
    assert opened["ip"] == "192.168.0.1", opened
    ap = [m for m in board.messages if m.get("op") == "ap"][-1]
    assert ap["active"] and ap["ip"] == "192.168.0.1" and ap["essid"] == opened["essid"], ap
    board.expect("led", WAIT_S, pattern="config")
    board.trace.wait_for(lambda _t: colours(board).count("blue") >= 2, WAIT_S, "blinking blue")
    shown = colours(board)
    assert "orange" in shown and shown.index("orange") < shown.index("blue"), shown

    provisioned = CustomerSetup(local_backend(cloud_runtime)).provision(board)
    serial = provisioned.serial
    boot = board.events("boot")[-1]
    assert boot["reset"] == "hard", f"a submitted configuration resets the board: {boot}"
    # After the reset: blinking white while connecting, then off once MQTT is up.
    board.expect("led", WAIT_S, pattern="off")
    assert led_patterns(board)[-2:] == ["connecting", "off"], led_patterns(board)
    assert "white" in colours(board)[colours(board).index("blue") :], colours(board)
    up = board.events("wifi")[-1]
    assert up["state"] == "up" and up["ssid"] == provisioned.network.ssid, up

    plays = [
        ("SINGLE", gestures.single(120)),
        ("DOUBLE", gestures.double()),
        ("LONG", gestures.long(2000)),
    ]
    for n, (kind, steps) in enumerate(plays, start=1):
        board.press(steps)
        click = board.expect("click", WAIT_S)
        assert click["type"] == kind, f"played {kind}, the board saw {click}"
        board.expect("mqtt", WAIT_S, published=f"iotbutton/{serial}")
        board.expect("led", WAIT_S, pattern="published")
        board.expect("led", WAIT_S, pattern="off")  # solid green for a second, then off
        at_cloud = clicks.wait_for(serial, n, WAIT_S)[-1]
        assert at_cloud.event_id == click["id"]
        assert at_cloud.click_type == kind
        assert at_cloud.topic == f"iotbutton/{serial}"
        assert at_cloud.copies == 1
        message = at_cloud.payload
        assert set(message) == {
            "serialNumber",
            "batteryVoltage",
            "clickType",
            "reportedTime",
            "eventId",
        }
        assert message["serialNumber"] == serial
        assert message["batteryVoltage"] == f"{BATTERY_MV}mV"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", message["reportedTime"])
        reported = datetime.datetime.fromisoformat(message["reportedTime"].replace("Z", "+00:00"))
        received = datetime.datetime.fromtimestamp(at_cloud.received_ms / 1000, datetime.UTC)
        assert abs((received - reported).total_seconds()) < 30, (reported, received)

    # Solid green once published, then off.
    board.trace.wait_for(lambda _t: "green" in colours(board), WAIT_S, "green LED")
    at_cloud = cloud_runtime.cloud.clicks(serial)  # the cloud API (same records)
    assert [c.event_id for c in at_cloud] == [c["id"] for c in board.events("click")]

    # No secret on the console (as seen, and as logged by the rig), nor in the broker's and the
    # cloud's logs of this run.
    broker = cloud_runtime.broker
    logs = [board.workdir / "console.log", *sorted((cloud_runtime.home / "cloud").rglob("*.log"))]
    assert broker is not None and broker.log_file in logs, logs
    assert_no_leaks(provisioned.secrets, board.console_text(), *logs)
