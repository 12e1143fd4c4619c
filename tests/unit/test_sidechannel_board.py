"""The emulated board's life cycle through the side channel, with a tiny test firmware (not the
product's): reset causes, timer wake, RTC memory, watchdog, ADC, clean-up."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_board import tiny_board

from rig.drivers.emulated import (
    DEEPSLEEP_RESET,
    HARD_RESET,
    PWRON_RESET,
    SOFT_RESET,
    TIMER_WAKE,
    WDT_RESET,
    EmulatedBoard,
)
from rig.strategies.supervisor import process_alive

FIRMWARE = """
import json, time, machine
rtc = machine.RTC()
adc = machine.ADC(machine.Pin(34))
print("EVT " + json.dumps({"ev": "boot", "reset": machine.reset_cause(),
      "wake": machine.wake_reason(), "mem": rtc.memory().decode(), "uv": adc.read_uv()}))
try:
    with open("cmd") as f:
        cmd = f.read()
    import os
    os.remove("cmd")
except OSError:
    cmd = ""
if cmd == "timer":
    rtc.memory(b"kept")
    machine.deepsleep(300)
elif cmd == "reset":
    machine.reset()
elif cmd == "soft":
    machine.soft_reset()
elif cmd == "crash":
    import os
    os.system("kill -SEGV $PPID")
    time.sleep_ms(5000)
elif cmd == "wdt":
    w = machine.WDT(timeout=200)
    time.sleep_ms(5000)
"""
PROFILE = "NAME = 'test'\nBUTTON_PIN = 0\nBUTTON_ACTIVE_LOW = True\nBATTERY_DIVIDER = 2.0\n"


@pytest.fixture
def board(tmp_path: Path):
    board = tiny_board(tmp_path, "life", FIRMWARE, PROFILE)
    board.start()
    yield board
    board.close()


def boot_after(board: EmulatedBoard, cmd: str, reset: int, **fields: object) -> dict:
    board.write_file("cmd", cmd.encode())
    board.reset()
    board.expect("boot", 30, reset=HARD_RESET)
    return board.expect("boot", 30, reset=reset, **fields)


def test_reset_causes_timer_wake_and_rtc_memory(board: EmulatedBoard) -> None:
    first = board.expect("boot", 30, reset=PWRON_RESET)
    assert first["mem"] == "" and first["uv"] == 1_500_000  # 3000 mV through the 2:1 divider
    woke = boot_after(board, "timer", DEEPSLEEP_RESET, wake=TIMER_WAKE)
    assert woke["mem"] == "kept", "RTC memory survives deep sleep"
    assert boot_after(board, "reset", HARD_RESET)["mem"] == "kept"
    boot_after(board, "soft", SOFT_RESET)
    assert "soft reboot" in board.console_text()
    boot_after(board, "wdt", WDT_RESET)
    board.power_cut()
    board.start()
    assert board.expect("boot", 30, reset=PWRON_RESET)["mem"] == "", "power loss clears RTC"


def test_close_leaves_no_process_behind(board: EmulatedBoard) -> None:
    board.expect("boot", 30)
    board.channel.wait_connected(30)  # hello handled
    pids = [m["pid"] for m in board.messages if m["op"] == "hello"]
    assert pids and all(process_alive(p) for p in pids)
    board.close()
    assert not any(process_alive(p) for p in pids)
    assert not board.tty.exists()


def test_pressing_an_unpowered_board_is_refused(tmp_path: Path, board: EmulatedBoard) -> None:
    del tmp_path
    board.power_cut()
    with pytest.raises(RuntimeError, match="is off"):
        board.press([(0, True), (100, False)])


def test_a_crashed_process_is_reported_and_leaves_the_board_off(board: EmulatedBoard) -> None:
    board.write_file("cmd", b"crash")
    board.reset()
    board.expect("boot", 30, reset=HARD_RESET)
    board.wait_state("off", 30)
    assert "board process ended unexpectedly" in board.console_text()
