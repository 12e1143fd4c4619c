"""The broker stops (mosquitto ended for real) while the customer keeps pressing: every press is
delivered once the broker is back, and none is recorded twice at the cloud.

Own module: the test stops the module's broker, which other tests must not share.
"""

from __future__ import annotations

import threading

import pytest
from connectivity_kit import (
    WAIT_S,
    BrokerOutage,
    assert_no_leaks,
    connected,
)

from rig import gestures
from rig.cloud.clicks.store import ClickLog
from rig.cloud.runtime import CloudRuntime
from rig.pytest_plugin.boards import BoardFactory

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PRESSES_DURING = 4


def test_presses_while_the_broker_is_down_are_delivered_once_after_it_returns(
    boards: BoardFactory,
    cloud_runtime: CloudRuntime,
) -> None:
    board, setup = connected(boards, cloud_runtime)
    clicks = ClickLog(cloud_runtime.cloud.store)
    outage = BrokerOutage(cloud_runtime)

    board.press(gestures.single(100))
    first = board.expect("click", WAIT_S)
    clicks.wait_for_ids(setup.serial, [first["id"]], WAIT_S)

    # Pressing goes on while the broker stops.
    errors: list[BaseException] = []

    def press() -> None:
        try:
            for _ in range(PRESSES_DURING):
                # a press 600 ms after the last release: past the 400 ms double-click window
                board.press(gestures.single(100, lead_ms=600))
        except BaseException as exc:  # reported below
            errors.append(exc)

    presser = threading.Thread(target=press)
    presser.start()
    outage.stop()
    presser.join(WAIT_S * 2)
    assert not errors, errors
    down = board.expect("mqtt", WAIT_S, state="down")
    assert down["kind"] in ("closed", "connect", "timeout"), down
    board.press(gestures.long(2000, lead_ms=600))
    board.expect("click", WAIT_S, type="LONG")
    board.expect("led", WAIT_S, pattern="err_connect")  # nobody listens on the port

    outage.start()  # the board may reconnect before the cloud's client: nothing is lost
    board.expect("mqtt", WAIT_S, state="up")

    printed = [c["id"] for c in board.events("click")]
    kinds = [c["type"] for c in board.events("click")]
    assert kinds == ["SINGLE"] * (PRESSES_DURING + 1) + ["LONG"], kinds
    got = clicks.wait_for_ids(setup.serial, printed, WAIT_S)
    at_cloud = [c.event_id for c in got]
    assert sorted(at_cloud) == sorted(printed), "a click is missing at the cloud, or extra"
    assert len(set(at_cloud)) == len(at_cloud)
    board.expect("mqtt", WAIT_S, left=0)
    print(f"copies received per click: {[c.copies for c in got]}")
    assert_no_leaks(setup.secrets, board.console_text(), *outage.logs)
