"""LED end to end: each pattern the firmware shows is a `led` console event, and on emulated
boards the pixel / pin trace of the shim shows that pattern's colours and rhythm."""

from __future__ import annotations

from typing import Any

import pytest

from rig import gestures
from rig.drivers.base import Board
from rig.drivers.emulated import EmulatedBoard

pytestmark = pytest.mark.e2e

# A test service (the firmware's service hook, docs/contracts.md "Firmware application"): each
# click type switches the LED to a pattern, so every pattern can be driven from the button.
SHOW_SERVICE = b"""
PATTERN = {"SINGLE": "err_tls", "DOUBLE": "config", "LONG": "published"}


class ShowOnClick:
    def __init__(self, app):
        self.app = app

    async def run(self):
        pass

    def on_click(self, event):
        self.app.led.show(PATTERN[event["type"]])


def register(app):
    app.add(ShowOnClick(app))
"""

LONG_FLASH_MS = 400  # contracts: short 200 ms, long 600 ms


def colour_name(rgb: list[int]) -> str:
    """Brightness-independent colour class of an LED frame."""
    r, g, b = rgb[:3]
    if not (r or g or b):
        return "off"
    if r and g and b:
        return "white"
    if r and g:
        return "orange"
    return {(1, 0, 0): "red", (0, 1, 0): "green", (0, 0, 1): "blue"}[(bool(r), bool(g), bool(b))]


def frames(trace: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """(colour, board ticks_ms) at each change of the shown colour."""
    out: list[tuple[str, int]] = []
    for msg in trace:
        if msg["op"] == "pixel":
            name = colour_name(msg["rgb"][0])
        else:
            name = "white" if msg["value"] else "off"
        if not out or out[-1][0] != name:
            out.append((name, msg["t"]))
    return out


def on_phases(frames_: list[tuple[str, int]], colour: str) -> list[int]:
    """Durations (ms) of the phases lit in `colour`, each ended by the next frame."""
    return [frames_[i + 1][1] - t for i, (name, t) in enumerate(frames_[:-1]) if name == colour]


def test_boot_without_services_shows_unconfigured(board: Board) -> None:
    board.expect("led", 20, pattern="unconfigured")
    if isinstance(board, EmulatedBoard):
        trace = board.trace.wait_for(
            lambda t: bool(t) and frames(t)[-1][0] == "orange", 20, "orange LED"
        )
        assert frames(trace)[-1][0] == "orange"


@pytest.mark.board_files({"services.py": SHOW_SERVICE})
def test_tls_error_code_is_long_short_short_three_times_then_off(board: Board) -> None:
    start = len(board.trace.items()) if isinstance(board, EmulatedBoard) else 0
    board.press(gestures.single(120))
    board.expect("click", 20, type="SINGLE")
    board.expect("led", 20, pattern="err_tls")
    board.expect("led", 30, pattern="off")  # a finite pattern ends dark
    if isinstance(board, EmulatedBoard):
        trace = [m for _, m in board.trace.items()[start:]]
        shown = frames(trace)
        red = ["L" if ms >= LONG_FLASH_MS else "S" for ms in on_phases(shown, "red")]
        assert "".join(red) == "LSS" * 3, f"red flashes {red} from frames {shown}"
        assert shown[-1][0] == "off"


@pytest.mark.board_files({"services.py": SHOW_SERVICE})
def test_config_mode_blinks_blue(board: Board) -> None:
    board.press(gestures.double(100, 150, 100))
    board.expect("click", 20, type="DOUBLE")
    board.expect("led", 20, pattern="config")
    if isinstance(board, EmulatedBoard):
        trace = board.trace.wait_for(
            lambda t: len(on_phases(frames(t), "blue")) >= 3, 30, "three blue blinks"
        )
        blinks = on_phases(frames(trace), "blue")
        assert all(150 <= ms <= 400 for ms in blinks[:3]), f"blue phases {blinks} ms, want ~250"
