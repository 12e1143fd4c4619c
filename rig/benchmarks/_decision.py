"""A click's decision point on an emulated board, on the host's clock (shared by `click_cloud`
and `click_callback`).

The unix port's `ticks_ms()` is CLOCK_MONOTONIC in ms (its period 2**62 on 64 bits, never
reached here), the clock of the host's `time.monotonic()` (system-wide on Linux, so any host
process reads the same one), shifted: an emulated board runs in a time namespace whose ticks
start at 0 at its process's start (rig/unix_port/app_clock.py), and the shift is read from the
host side (`EmulatedBoard.ticks_offset_ms`, from /proc/<pid>/timens_offsets). The firmware's
`click` console event carries `t`, its `ticks_ms()` at the decision point (release + double-click
window for SINGLE, the LONG threshold while held). A latency to a later moment `end` on the host's
monotonic clock is `end + offset - t`; it is cross-checked against the rig's own gesture timing
(the shim plays the release; `press()` returns once it was played): both must agree within
`CLOCK_CHECK_MS`, else the run fails rather than report a number from a wrong clock.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from rig import gestures
from rig.drivers.emulated import EmulatedBoard

CLOCK_CHECK_MS = 150.0
DOUBLE_MS = 400  # firmware default double-click window
LONG_MS = 1500  # firmware default LONG threshold
WAIT_S = 60.0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def kind_of(i: int) -> str:
    """The benchmarks' click mix: three SINGLE, then one LONG."""
    return "LONG" if i % 4 == 3 else "SINGLE"


@dataclass(frozen=True)
class DecidedClick:
    """A click the board reported, with where the rig's gesture timing puts its decision."""

    event: dict[str, Any]  # the board's `click` console event (`id`, `type`, `t`)
    planned_ms: float  # host monotonic ms of the decision by the gesture timing
    offset_ms: float  # the board's ticks_ms() less the host's monotonic ms

    def latency_to(self, end_mono_ms: float) -> float:
        """ms from the board's decision point to `end_mono_ms` (host `time.monotonic()` * 1000),
        by the board's ticks, checked against the gesture timing."""
        latency = end_mono_ms + self.offset_ms - self.event["t"]
        by_gesture = end_mono_ms - self.planned_ms
        if abs(by_gesture - latency) > CLOCK_CHECK_MS:
            raise RuntimeError(
                f"board ticks and host clock disagree: {latency:.1f} ms from ticks vs"
                f" {by_gesture:.1f} ms from the gesture timing"
            )
        return latency


def play(board: EmulatedBoard, kind: str) -> DecidedClick:
    """Play a SINGLE or LONG gesture and wait for the board's `click` event of it."""
    steps = gestures.long(2000) if kind == "LONG" else gestures.single(100)
    started = time.monotonic() * 1000
    board.press(steps)
    released = time.monotonic() * 1000
    click = board.expect("click", WAIT_S)
    if click["type"] != kind:
        raise RuntimeError(f"played {kind}, the board saw {click}")
    planned = released + DOUBLE_MS if kind == "SINGLE" else started + LONG_MS
    return DecidedClick(dict(click), planned, board.ticks_offset_ms())
