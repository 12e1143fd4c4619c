"""Read the red error codes an emulated board's LED played from its output trace.

A red code (docs/contracts.md "LED patterns") is three flashes, short (200 ms) or long (600 ms),
200 ms apart, then a 1 s pause. `red_passes` cuts the trace into passes and spells each as its
flashes ("LSL" = long, short, long: err_forbidden); a pass cut short by another pattern is spelt
as far as it got, so a whole code is one complete spelling.
"""

from __future__ import annotations

import itertools
from typing import Any

from rig.drivers.emulated import EmulatedBoard

LONG_FLASH_MS = 400  # between short (200) and long (600)
# a dark gap longer than the 200 ms between flashes ends a pass (the pause is 1000 ms; another
# pattern cutting in, such as "off" on a reconnect, also ends it)
GAP_MAX_MS = 350
CODES = {"err_tls": "LSS", "err_forbidden": "LSL", "err_connect": "SLL"}


def _colour(msg: dict[str, Any]) -> str:
    r, g, b = (bool(c) for c in msg["rgb"][0][:3])
    if not (r or g or b):
        return "off"
    return "red" if (r, g, b) == (True, False, False) else "other"


def red_passes(trace: list[dict[str, Any]]) -> list[str]:
    """Each pass of red flashes in the trace, spelt with L and S."""
    changes: list[tuple[str, int]] = []
    for msg in trace:
        if msg["op"] != "pixel":  # the emulated board's LED (profile LED_KIND "pixel")
            continue
        colour = _colour(msg)
        if not changes or changes[-1][0] != colour:
            changes.append((colour, msg["t"]))
    passes: list[str] = []
    current = ""
    for (colour, start), (_, end) in itertools.pairwise(changes):
        if colour == "red":
            current += "L" if end - start >= LONG_FLASH_MS else "S"
        elif current and (colour != "off" or end - start > GAP_MAX_MS):
            passes.append(current)
            current = ""
    return passes


def wait_for_code(board: EmulatedBoard, pattern: str, since: int, timeout: float) -> list[str]:
    """Wait until the trace, from item `since` on, shows one whole pass of `pattern`'s red code;
    returns the passes seen."""
    code = CODES[pattern]
    trace = board.trace.wait_for(
        lambda t: code in red_passes(t[since:]), timeout, f"a whole {pattern} code ({code})"
    )
    return red_passes(trace[since:])
