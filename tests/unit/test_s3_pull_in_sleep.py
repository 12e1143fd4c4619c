"""An ESP32-S3 emulated board loses the wake pin's pull-up in deep sleep unless the pad is held
(MicroPython issue #15260): the shim says so when the board sleeps and the rig wakes it at once
by EXT0, as the floating pin does on the chip. Held (hold=True), it sleeps until pressed."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_board import tiny_board

from rig.drivers.emulated import DEEPSLEEP_RESET, EXT0_WAKE, EmulatedBoard

FIRMWARE = """
import json, machine, esp32
print("EVT " + json.dumps({"ev": "boot", "reset": machine.reset_cause(),
      "wake": machine.wake_reason()}))
try:
    with open("cmd") as f:
        hold = f.read() == "held"
    import os
    os.remove("cmd")
except OSError:
    hold = None
if hold is not None:
    pin = machine.Pin(0, machine.Pin.IN, machine.Pin.PULL_UP, hold=hold)
    esp32.wake_on_ext0(pin, 0)
    machine.deepsleep()
"""
PROFILE = "NAME = 's3'\nCHIP = 'esp32s3'\nBUTTON_PIN = 0\nBUTTON_ACTIVE_LOW = True\n"


@pytest.fixture
def board(tmp_path: Path):
    board = tiny_board(tmp_path, "s3", FIRMWARE, PROFILE)
    yield board
    board.close()


def test_without_hold_the_floating_pin_wakes_the_s3_at_once(board: EmulatedBoard) -> None:
    board.write_file("cmd", b"float")
    board.start()
    board.expect("boot", 30, wake=0)
    assert board.expect("boot", 30, reset=DEEPSLEEP_RESET)["wake"] == EXT0_WAKE


def test_with_hold_the_s3_sleeps_until_pressed(board: EmulatedBoard) -> None:
    board.write_file("cmd", b"held")
    board.start()
    board.expect("boot", 30, wake=0)
    board.wait_state("asleep", 30)
    board.set_button(True)
    assert board.expect("boot", 30, reset=DEEPSLEEP_RESET)["wake"] == EXT0_WAKE
