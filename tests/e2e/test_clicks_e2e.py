"""Clicks end to end: real firmware, real interpreter, edges through the board's button input.

Each check ends with a sentinel LONG gesture: its click is decided while it is still held, so
once `press` has played it, every click of the gesture under test came before it. "Exactly these
events and nothing extra" is thus observed without sleeping and hoping.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from rig import gestures
from rig.drivers.base import Board
from rig.drivers.emulated import EmulatedBoard
from rig.pytest_plugin.boards import BoardFactory
from rig.strategies.supervisor import process_alive

pytestmark = pytest.mark.e2e

# firmware defaults (docs/architecture.md decision 7)
DEBOUNCE_MS, DOUBLE_MS, LONG_MS = 50, 400, 1500
# Distance from each window edge. Real time jitters, and in a bounce burst a soft IRQ that reads
# the level late can hide the first edge of a transition (bursts last up to 20 ms).
MARGIN_MS = 60
CLICK_TIMEOUT_S = 20.0
SENTINEL_LEAD_MS = DOUBLE_MS + 200  # released before the sentinel: beyond the double window
SETTLE_MS = DOUBLE_MS + 200  # released time before a checked gesture
SENTINEL_EXTRA_MS = 600  # held past the LONG threshold: its click is printed before release


def clicks_of(board: Board, steps: list[gestures.Step], expected: list[str]) -> list[str]:
    """Play `steps` then the sentinel; the click types the gesture under test produced."""
    before = len(board.events("click"))
    # Released first: the previous check's sentinel may have ended just now.
    board.press([(steps[0][0] + SETTLE_MS, steps[0][1]), *steps[1:]])
    board.press(gestures.long(LONG_MS + SENTINEL_EXTRA_MS, lead_ms=SENTINEL_LEAD_MS))
    for kind in [*expected, "LONG"]:  # in order; a wrong or missing click fails here
        board.expect("click", CLICK_TIMEOUT_S, type=kind)
    clicks = board.events("click")[before:]
    numbers = [c["n"] for c in clicks]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), json.dumps(clicks)
    assert clicks[-1]["type"] == "LONG", (
        f"the sentinel is not the last click: {json.dumps(clicks)}"
    )
    return [c["type"] for c in clicks[:-1]]


def bouncy(seed: int) -> random.Random:
    return random.Random(seed)


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        pytest.param(gestures.single(120, rng=bouncy(1)), ["SINGLE"], id="single"),
        pytest.param(gestures.double(110, 160, 110, rng=bouncy(2)), ["DOUBLE"], id="double"),
        pytest.param(gestures.long(LONG_MS + 400, rng=bouncy(3)), ["LONG"], id="long"),
    ],
)
def test_each_gesture_with_contact_bounce_gives_exactly_its_click(
    board: Board, steps: list[gestures.Step], expected: list[str]
) -> None:
    assert len(steps) > 4, "the gesture should bounce"
    assert clicks_of(board, steps, expected) == expected


M = MARGIN_MS


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        pytest.param(gestures.long(LONG_MS + M, rng=bouncy(4)), ["LONG"], id="long-just-held"),
        pytest.param(
            gestures.single(LONG_MS - M, rng=bouncy(5)), ["SINGLE"], id="long-just-short"
        ),
        pytest.param(
            gestures.double(100, DOUBLE_MS - M, 100, rng=bouncy(6)), ["DOUBLE"], id="double-in"
        ),
        pytest.param(
            gestures.double(100, DOUBLE_MS + M, 100, rng=bouncy(7)),
            ["SINGLE", "SINGLE"],
            id="double-gap-too-long",
        ),
        pytest.param(
            gestures.single(DEBOUNCE_MS + M, rng=bouncy(8)), ["SINGLE"], id="debounce-in"
        ),
        pytest.param(gestures.single(DEBOUNCE_MS - 40), [], id="glitch-ignored"),
    ],
)
def test_window_edges(board: Board, steps: list[gestures.Step], expected: list[str]) -> None:
    assert clicks_of(board, steps, expected) == expected


def test_timings_changed_at_run_time_apply_after_reset(board: Board) -> None:
    settings = {"schema": 1, "debounce_ms": 30, "double_ms": 250, "long_ms": 800}
    board.write_file("settings.json", json.dumps(settings).encode())
    board.reset()
    board.expect("boot", 30, reset="hard")
    # Each is classified differently under the defaults (DOUBLE and SINGLE respectively).
    gap = 250 + M
    assert clicks_of(
        board, gestures.double(100, gap, 100, rng=bouncy(9)), ["SINGLE", "SINGLE"]
    ) == [
        "SINGLE",
        "SINGLE",
    ]
    assert clicks_of(board, gestures.single(800 + M, rng=bouncy(10)), ["LONG"]) == ["LONG"]
    assert json.loads(board.read_file("settings.json"))["long_ms"] == 800


CLI = "import sys; from rig.cli import main; sys.exit(main())"  # what the console script runs


def buttonrig(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CLI, "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_buttonrig_emulate_start_press_list_stop(tmp_path: Path) -> None:
    """The command line's emulated button (not the `board` fixture: it is always emulated)."""
    started = buttonrig(tmp_path, "emulate", "start", "--serial", "G030E2E0001")
    assert started.returncode == 0, started.stderr
    try:
        info = json.loads(started.stdout)
        assert Path(info["tty"]).is_symlink()
        pressed = buttonrig(tmp_path, "emulate", "press", "--serial", "G030E2E0001", "double")
        assert pressed.returncode == 0, pressed.stderr
        assert json.loads(pressed.stdout)["type"] == "DOUBLE"
        listed = json.loads(buttonrig(tmp_path, "emulate", "list").stdout)
        assert [b["serial"] for b in listed] == ["G030E2E0001"]
        flash = tmp_path / "boards" / "G030E2E0001" / "flash"
        assert (flash / "serial").read_text() == "G030E2E0001"
        again = buttonrig(tmp_path, "emulate", "start", "--serial", "G030E2E0001")
        assert again.returncode == 255 and "already running" in again.stderr
    finally:
        stopped = buttonrig(tmp_path, "emulate", "stop", "--serial", "G030E2E0001")
    assert stopped.returncode == 0, stopped.stderr
    assert json.loads(buttonrig(tmp_path, "emulate", "list").stdout) == []
    assert not process_alive(info["pid"])
    missing = buttonrig(tmp_path, "emulate", "press", "--serial", "G030E2E0001", "single")
    assert missing.returncode == 255 and "no emulated button" in missing.stderr


@pytest.mark.board_options(mpy=True, heapsize="96K")
def test_clicks_with_bytecode_firmware_on_an_esp32_sized_heap(board: Board) -> None:
    """Deployed as .mpy on a GC heap the size of an ESP32's without PSRAM (emulated boards; the
    options mean nothing to a physical board, which has its own heap)."""
    if isinstance(board, EmulatedBoard):
        assert board.read_file("clicks.mpy") and not (board.flash / "clicks.py").exists()
    assert clicks_of(board, gestures.double(100, 150, 100, rng=bouncy(11)), ["DOUBLE"]) == [
        "DOUBLE"
    ]


def test_many_boards_click_at_once(boards: BoardFactory) -> None:
    three = boards(3)
    kinds = {"SINGLE": gestures.single(120), "DOUBLE": gestures.double(), "LONG": gestures.long()}
    errors: list[BaseException] = []

    def click(board: Board, steps: list[gestures.Step]) -> None:
        try:
            board.press(steps)
        except BaseException as exc:  # re-raised below, in the test's thread
            errors.append(exc)

    threads = [
        threading.Thread(target=click, args=(b, steps))
        for b, steps in zip(three, kinds.values(), strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for board, kind in zip(three, kinds, strict=True):
        assert board.expect("click", CLICK_TIMEOUT_S)["type"] == kind
        assert [c["type"] for c in board.events("click")] == [kind]
