"""The firmware's shadow agent end to end (docs/firmware-connectivity.md "Shadow agent"): real
firmware on an emulated board, real mosquitto, the reference cloud; desired state is written as
`aws iot-data update-thing-shadow` does, reported state read back with get-thing-shadow, through
the backend interface (rig/backends), so these run on `--backend aws` too. The last test changes
the board's policy in the local cloud's own API."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from connectivity_kit import WAIT_S, connected, set_up_through

from host.paths import FIRMWARE_DIR
from rig import gestures
from rig.backends.base import CloudBackend
from rig.cloud.clicks.store import ClickLog
from rig.cloud.core import arn
from rig.cloud.runtime import CloudRuntime
from rig.drivers.emulated import EmulatedBoard
from rig.pytest_plugin.boards import BoardFactory

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

_VERSION = re.search(r'FW_VERSION = "([^"]+)"', (FIRMWARE_DIR / "identity.py").read_text())
assert _VERSION is not None
FW_VERSION = _VERSION.group(1)
OLD_DOUBLE_MS, NEW_DOUBLE_MS = 400, 900  # the firmware's default window, and a wider one
GAP_MS = 650  # between the two windows: two SINGLEs under the old one, a DOUBLE under the new
LONG_MS = 1500
CLICK_TIMEOUT_S = 20.0


def shadow(cloud: CloudBackend, thing: str) -> dict[str, Any]:
    return cloud.get_shadow(thing) or {}


def desire(cloud: CloudBackend, thing: str, desired: dict[str, Any]) -> None:
    cloud.update_shadow(thing, {"state": {"desired": desired}})


def wait_shadow(
    cloud: CloudBackend, thing: str, ok: Callable[[dict[str, Any]], bool], what: str
) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    doc: dict[str, Any] = {}
    while time.monotonic() < deadline:
        doc = shadow(cloud, thing)  # {} while there is none
        if doc and ok(doc):
            return doc
        time.sleep(0.2)
    raise AssertionError(f"shadow of {thing}: never {what}; last {json.dumps(doc)}")


def reported(doc: dict[str, Any]) -> dict[str, Any]:
    return doc.get("state", {}).get("reported", {})


def classify(board: EmulatedBoard, hold1: int, gap: int, hold2: int, window_ms: int) -> list[str]:
    """Play a press pair, then a LONG sentinel well past `window_ms`; the pair's click types."""
    before = len(board.events("click"))
    board.press([(window_ms + 300, False), *gestures.double(hold1, gap, hold2)])
    board.press(gestures.long(LONG_MS + 600, lead_ms=window_ms + 300))
    deadline = time.monotonic() + CLICK_TIMEOUT_S
    while not [c for c in board.events("click")[before:] if c["type"] == "LONG"]:
        assert time.monotonic() < deadline, board.events("click")[before:]
        time.sleep(0.05)
    clicks = [c["type"] for c in board.events("click")[before:]]
    assert clicks[-1] == "LONG", clicks  # the sentinel comes last
    return clicks[:-1]


def test_the_board_reports_its_version_and_settings_on_connect(
    boards: BoardFactory, cloud_backend: CloudBackend
) -> None:
    board, setup = set_up_through(boards, cloud_backend)
    doc = wait_shadow(cloud_backend, setup.serial, lambda d: "fw" in reported(d), "reported")
    state = reported(doc)
    assert state["fw"] == FW_VERSION
    assert state["double_ms"] == OLD_DOUBLE_MS and state["topic"] == "iotbutton/{serial}"
    assert state["debounce_ms"] == 50 and state["long_ms"] == 1500 and state["idle_sleep_s"] == 0
    assert state["battery_mv"] == 3000 and isinstance(state["rssi"], int)
    assert isinstance(state["heap_free"], int) and state["heap_free"] > 0
    assert state["clicks"] == {"single": 0, "double": 0, "long": 0}
    assert "settings_refused" not in state
    assert len(json.dumps(doc)) < 8192
    # afterwards only what changed: a click reports the counts alone
    board.press(gestures.single(120))
    board.expect("shadow", WAIT_S, reported=["clicks"])
    wait_shadow(
        cloud_backend,
        setup.serial,
        lambda d: reported(d)["clicks"]["single"] == 1,
        "counting the click",
    )


def test_a_desired_double_click_window_changes_how_presses_are_classified(
    boards: BoardFactory, cloud_backend: CloudBackend
) -> None:
    board, setup = set_up_through(boards, cloud_backend)
    cloud = cloud_backend
    wait_shadow(cloud, setup.serial, lambda d: "fw" in reported(d), "reported")
    assert classify(board, 100, GAP_MS, 100, OLD_DOUBLE_MS) == ["SINGLE", "SINGLE"]

    desire(cloud, setup.serial, {"double_ms": NEW_DOUBLE_MS})
    doc = wait_shadow(
        cloud,
        setup.serial,
        lambda d: reported(d).get("double_ms") == NEW_DOUBLE_MS,
        "reporting the new window",
    )
    assert "delta" not in doc["state"], doc  # desired and reported agree: the delta is cleared
    assert "settings_refused" not in reported(doc)
    assert classify(board, 100, GAP_MS, 100, NEW_DOUBLE_MS) == ["DOUBLE"]
    assert json.loads(board.read_file("settings.json"))["double_ms"] == NEW_DOUBLE_MS


def test_an_invalid_value_is_refused_not_applied_and_reported_with_the_reason(
    boards: BoardFactory, cloud_backend: CloudBackend
) -> None:
    board, setup = set_up_through(boards, cloud_backend)
    cloud = cloud_backend
    wait_shadow(cloud, setup.serial, lambda d: "fw" in reported(d), "reported")
    desire(cloud, setup.serial, {"double_ms": 5000, "long_ms": 1200})
    doc = wait_shadow(
        cloud, setup.serial, lambda d: "settings_refused" in reported(d), "reporting a refusal"
    )
    state = reported(doc)
    assert state["settings_refused"] == {"double_ms": "out of range 100..2000"}
    assert (
        state["double_ms"] == OLD_DOUBLE_MS and state["long_ms"] == 1200
    )  # the valid one applies
    assert doc["state"]["delta"] == {"double_ms": 5000}  # still wanted, not in force
    assert classify(board, 100, GAP_MS, 100, OLD_DOUBLE_MS) == ["SINGLE", "SINGLE"]
    assert "double_ms" not in json.loads(board.read_file("settings.json")) or (
        json.loads(board.read_file("settings.json"))["double_ms"] == OLD_DOUBLE_MS
    )
    # a valid value desired instead clears the refusal (reported null deletes the key)
    desire(cloud, setup.serial, {"double_ms": 300})
    doc = wait_shadow(
        cloud,
        setup.serial,
        lambda d: "settings_refused" not in reported(d) and reported(d)["double_ms"] == 300,
        "clearing the refusal",
    )
    assert "delta" not in doc["state"], doc


def test_a_delta_published_while_the_board_sleeps_is_applied_at_its_next_wake(
    boards: BoardFactory, cloud_backend: CloudBackend
) -> None:
    board, setup = set_up_through(boards, cloud_backend)
    cloud = cloud_backend
    wait_shadow(cloud, setup.serial, lambda d: "fw" in reported(d), "reported")
    desire(cloud, setup.serial, {"idle_sleep_s": 2})  # through the shadow too
    board.expect("sleep", WAIT_S)
    deadline = time.monotonic() + WAIT_S
    while board.state != "asleep" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert board.state == "asleep"
    desire(cloud, setup.serial, {"double_ms": NEW_DOUBLE_MS})  # nobody listening
    time.sleep(1)
    assert board.state == "asleep"
    assert reported(shadow(cloud, setup.serial))["double_ms"] == OLD_DOUBLE_MS

    board.press(gestures.single(120))  # wakes it: a new boot, a new session, a get
    board.expect("boot", WAIT_S, reset="deepsleep", wake="ext0")
    board.expect("shadow", WAIT_S, delta=["double_ms"])
    doc = wait_shadow(
        cloud,
        setup.serial,
        lambda d: reported(d).get("double_ms") == NEW_DOUBLE_MS,
        "applying the delta at wake",
    )
    assert "delta" not in doc["state"], doc
    assert json.loads(board.read_file("settings.json"))["double_ms"] == NEW_DOUBLE_MS


def test_a_policy_without_the_shadow_stops_the_agent_not_the_clicks(
    boards: BoardFactory, cloud_runtime: CloudRuntime
) -> None:
    """AWS IoT ends a session on a request the policy denies: an agent that kept asking would end
    every session. Both agents stop (one `error` `shadow`, one `jobs`) and the clicks go on in one
    session."""
    board, setup = connected(boards, cloud_runtime)
    api = cloud_runtime.cloud
    clicks_only = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "iot:Connect", "Resource": arn.client_arn(setup.serial)},
            {
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": arn.topic_arn(f"iotbutton/{setup.serial}"),
            },
        ],
    }
    api.create_policy_version(setup.policy_name, json.dumps(clicks_only), set_as_default=True)
    board.reset()
    board.expect("boot", WAIT_S, reset="hard")
    # Each agent's refused SUBSCRIBE ends the session it was sent in (as AWS IoT does): one
    # session, or two when the agents' subscribes fall in different ones. Then a session stays up.
    deadline = time.monotonic() + WAIT_S
    while not (
        {e["code"] for e in board.events("error")} >= {"jobs", "shadow"}
        and [e["state"] for e in board.events("mqtt") if "state" in e][-1] == "up"
    ):
        assert time.monotonic() < deadline, (board.events("error"), board.events("mqtt"))
        time.sleep(0.1)
    downs = len(board.events("mqtt"))
    board.press(gestures.single(120))
    click = board.expect("click", WAIT_S)
    ClickLog(api.store).wait_for_ids(setup.serial, [click["id"]], WAIT_S)
    time.sleep(3)
    later = [e for e in board.events("mqtt")[downs:] if e.get("state") == "down"]
    assert later == [], later  # the session the click went out on is still up
    # once each, not per session: the policy allows neither the shadow nor jobs
    assert sorted(e["code"] for e in board.events("error")) == ["jobs", "shadow"]


def test_a_policy_that_lets_jobs_be_watched_but_not_asked_stops_the_jobs_agent(
    boards: BoardFactory, cloud_runtime: CloudRuntime
) -> None:
    """The jobs topics may be subscribed to, but start-next may not be published: AWS IoT ends
    each session the request is sent in. The watch counts the sessions lost with its request
    unanswered and stops jobs after two (one `error` `jobs`); the clicks go on. It counts them in
    `mqtt.Client.on_up`, which the connection service's own hook replaced before: the board then
    reconnected for good, each session ended by start-next. The shadow's get, unanswered in those
    sessions too, may stop the shadow as well: one close cannot say whose request was refused."""
    board, setup = connected(boards, cloud_runtime)
    api = cloud_runtime.cloud
    things = f"$aws/things/{setup.serial}"
    watch_only = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "iot:Connect", "Resource": arn.client_arn(setup.serial)},
            {
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": [
                    arn.topic_arn(f"iotbutton/{setup.serial}"),
                    arn.topic_arn(f"{things}/shadow/*"),
                ],
            },
            {
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": [
                    arn.topicfilter_arn(f"{things}/shadow/*"),
                    arn.topicfilter_arn(f"{things}/jobs/*"),
                ],
            },
            {
                "Effect": "Allow",
                "Action": "iot:Receive",
                "Resource": [
                    arn.topic_arn(f"{things}/shadow/*"),
                    arn.topic_arn(f"{things}/jobs/*"),
                ],
            },
        ],
    }
    api.create_policy_version(setup.policy_name, json.dumps(watch_only), set_as_default=True)
    board.reset()
    board.expect("boot", WAIT_S, reset="hard")
    error = board.expect("error", 3 * WAIT_S, code="jobs")
    assert "sessions closed with a request unanswered" in error["msg"], error
    board.expect("mqtt", WAIT_S, state="up")
    board.press(gestures.single(120))
    click = board.expect("click", WAIT_S)
    ClickLog(api.store).wait_for_ids(setup.serial, [click["id"]], WAIT_S)
    assert [e["code"] for e in board.events("error")].count("jobs") == 1, board.events("error")
