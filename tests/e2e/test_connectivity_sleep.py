"""Idle deep sleep and the connectivity services: a board in config mode (asked for by a 6 s
hold) and a board with clicks waiting in its outbox stay awake; once the clicks are acknowledged
it sleeps again."""

from __future__ import annotations

import json
import time

import pytest
from connectivity_kit import WAIT_S, assert_no_leaks, connected, run_logs

from rig import gestures
from rig.cloud.clicks.store import ClickLog
from rig.cloud.runtime import CloudRuntime
from rig.drivers.emulated import EmulatedBoard
from rig.pytest_plugin.boards import BoardFactory
from rig.strategies.provisioning import CONFIG_HOLD_MS, set_radio

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

IDLE_SLEEP_S = 2
AWAKE_S = 3 * IDLE_SLEEP_S  # "stays awake" = no sleep for three idle periods


def stays_awake(board: EmulatedBoard, seconds: float) -> None:
    before = len(board.events("sleep"))
    time.sleep(seconds)
    assert len(board.events("sleep")) == before and board.state == "running", board.events()[-8:]


def test_config_mode_and_unsent_clicks_keep_the_board_awake(
    boards: BoardFactory, cloud_runtime: CloudRuntime
) -> None:
    board, setup = connected(boards, cloud_runtime)
    clicks = ClickLog(cloud_runtime.cloud.store)
    board.write_file(
        "settings.json", json.dumps({"schema": 1, "idle_sleep_s": IDLE_SLEEP_S}).encode()
    )
    board.reset()
    board.expect("boot", WAIT_S, reset="hard")
    board.expect("mqtt", WAIT_S, state="up")
    board.expect("sleep", WAIT_S)  # idle, nothing to send: it sleeps

    # A 6 s hold wakes it and opens config mode: awake while it is open.
    board.press([(0, True), (CONFIG_HOLD_MS, False)])
    board.expect("boot", WAIT_S, reset="deepsleep", wake="ext0")
    board.expect("mqtt", WAIT_S, published=f"iotbutton/{setup.serial}")  # the hold's LONG
    board.expect("config", WAIT_S, state="open")
    stays_awake(board, AWAKE_S)

    # No access point: a click cannot go out, the board stays awake until it has.
    set_radio(board, [])
    board.power_cut()
    board.start()
    board.expect("boot", WAIT_S, reset="power")
    board.expect("sleep", WAIT_S)
    board.press(gestures.single(120))
    board.expect("boot", WAIT_S, reset="deepsleep", wake="ext0")
    click = board.expect("click", WAIT_S)
    board.expect("outbox", WAIT_S, stored=click["id"])
    stays_awake(board, AWAKE_S)
    set_radio(board, [setup.network.ap()])
    board.expect("mqtt", WAIT_S, published=f"iotbutton/{setup.serial}", left=0)
    board.expect("sleep", WAIT_S)  # all sent: asleep again
    clicks.wait_for_ids(setup.serial, [click["id"]], WAIT_S)
    assert_no_leaks(setup.secrets, board.console_text(), *run_logs(cloud_runtime, board))
