"""Power end to end: deep sleep and button wake, reset causes, flash surviving power cuts."""

from __future__ import annotations

import json

import pytest

from rig import gestures
from rig.drivers.base import Board
from rig.drivers.emulated import EmulatedBoard

pytestmark = pytest.mark.e2e

LONG_MS = 1500


def power_cut_cause(board: Board) -> str:
    """Reset cause after power_cut + start: a USB board without a power switch the rig controls
    is held in reset instead (rig/drivers/serial.py), and boots with cause `hard`."""
    if isinstance(board, EmulatedBoard) or getattr(board, "power", None) is not None:
        return "power"
    return "hard"


SLEEPY = {"settings.json": json.dumps({"schema": 1, "idle_sleep_s": 1}).encode()}


@pytest.mark.board_files(SLEEPY)
def test_idle_board_sleeps_and_a_long_press_wakes_it_with_a_long_click(board: Board) -> None:
    board.expect("sleep", 30)
    board.press(gestures.long(LONG_MS + 400))
    board.expect("boot", 30, reset="deepsleep", wake="ext0")
    click = board.expect("click", 20)
    assert click["type"] == "LONG", f"woke with {click}; all clicks {board.events('click')}"
    assert len(board.events("click")) == 1
    # Idle again, it sleeps again: the wake did not leave it stuck awake.
    board.expect("sleep", 30)


@pytest.mark.board_files(SLEEPY)
def test_a_single_press_wakes_with_a_single_click(board: Board) -> None:
    board.expect("sleep", 30)
    board.press(gestures.single(150))
    board.expect("boot", 30, reset="deepsleep", wake="ext0")
    assert board.expect("click", 20)["type"] == "SINGLE"
    board.expect("sleep", 30)
    assert [c["type"] for c in board.events("click")] == ["SINGLE"]


def test_reset_and_power_cut_report_their_cause(board: Board) -> None:
    power = power_cut_cause(board)
    board.reset()
    board.expect("boot", 30, reset="hard", wake=None)
    board.power_cut()
    board.start()
    board.expect("boot", 30, reset=power, wake=None)


def test_flash_survives_a_power_cut_and_the_board_still_clicks(board: Board) -> None:
    board.write_file("note.txt", b"kept")
    board.power_cut()
    board.start()
    board.expect("boot", 30, reset=power_cut_cause(board))
    board.press(gestures.single(120))
    assert board.expect("click", 20)["type"] == "SINGLE"
    # Last: on a USB board reading the flash goes through the REPL and stops the firmware.
    assert board.read_file("note.txt") == b"kept"


CRASHING = {"services.py": b"raise RuntimeError('a broken build')\n"}


@pytest.mark.board_files(CRASHING)
def test_a_firmware_that_raises_resets_three_times_then_sleeps_until_pressed(board: Board) -> None:
    """An exception out of app.main() would leave an ESP32 at the REPL with its radio on: dead,
    and draining its battery. The board resets instead, three times in a row at most (RTC
    memory), then sleeps until pressed; the press gives it new tries."""
    for n in (1, 2, 3):
        crash = board.expect("crash", 30, n=n)
        assert (crash["then"], crash["error"]) == ("reset", "RuntimeError"), crash
        board.expect("boot", 30, reset="hard")
    assert board.expect("crash", 30, n=4)["then"] == "sleep"
    assert "a broken build" in board.console_text()  # the traceback is on the console
    board.press(gestures.single(150))
    board.expect("boot", 30, reset="deepsleep", wake="ext0")
    assert board.expect("crash", 30)["n"] == 1  # a new row of tries
    assert board.expect("crash", 30, n=4)["then"] == "sleep"
    rows = [(c["n"], c["then"]) for c in board.events("crash")][-8:]
    assert rows == 2 * [(1, "reset"), (2, "reset"), (3, "reset"), (4, "sleep")], rows
