"""Button gestures as `(delay_ms, pressed)` steps for `Board.press` (delays relative to the
previous step), optionally with contact bounce: a burst of toggles at each transition.

A hold is measured from the first edge of the press to the first edge of the release, which is
what a debouncing detector is meant to recover.
"""

from __future__ import annotations

import random

Step = tuple[int, bool]

BOUNCE_MIN_MS = 1
BOUNCE_MAX_MS = 20
BOUNCE_MAX_TOGGLES = 8  # extra edges per transition (pairs), beyond the real transition


def _burst(pressed: bool, rng: random.Random, limit_ms: int) -> list[Step]:
    """Toggles after a transition to `pressed`, ending in `pressed` within 1..20 ms."""
    span = min(rng.randint(BOUNCE_MIN_MS, BOUNCE_MAX_MS), max(BOUNCE_MIN_MS, limit_ms))
    pairs = rng.randint(1, max(1, min(BOUNCE_MAX_TOGGLES // 2, span // 2)))
    if span < 2 * pairs:
        return []  # too short to bounce at 1 ms resolution
    times = [*sorted(rng.sample(range(1, span), 2 * pairs - 1)), span]
    steps: list[Step] = []
    previous = 0
    for i, t in enumerate(times):
        steps.append((t - previous, pressed if i % 2 else not pressed))
        previous = t
    return steps


def from_holds(holds: list[tuple[int, int]], rng: random.Random | None = None) -> list[Step]:
    """Steps for presses given as `(gap_before_ms, hold_ms)`; bounce at each edge if `rng`."""
    steps: list[Step] = []
    carry = 0  # time already spent in a bounce burst, taken off the next delay
    for gap, hold in holds:
        if gap < 0 or hold <= 0:
            raise ValueError(f"a press needs gap >= 0 and hold > 0 ms, got {(gap, hold)}")
        for delay, pressed, room in ((gap, True, hold // 2), (hold, False, 0)):
            if delay < carry:
                raise ValueError(
                    f"bounce burst ({carry} ms) longer than the next interval ({delay} ms)"
                )
            steps.append((delay - carry, pressed))
            carry = 0
            if rng is not None:
                burst = _burst(pressed, rng, room if pressed else BOUNCE_MAX_MS)
                steps.extend(burst)
                carry = sum(d for d, _ in burst)
    return steps


# `lead_ms`: released time before the press. Gestures played back to back need it: a press that
# follows the previous release by less than the debounce time is a glitch, not a new gesture.


def single(
    hold_ms: int = 120, *, lead_ms: int = 0, rng: random.Random | None = None
) -> list[Step]:
    return from_holds([(lead_ms, hold_ms)], rng)


def double(
    hold1_ms: int = 100,
    gap_ms: int = 150,
    hold2_ms: int = 100,
    *,
    lead_ms: int = 0,
    rng: random.Random | None = None,
) -> list[Step]:
    return from_holds([(lead_ms, hold1_ms), (gap_ms, hold2_ms)], rng)


def long(hold_ms: int = 2000, *, lead_ms: int = 0, rng: random.Random | None = None) -> list[Step]:
    return from_holds([(lead_ms, hold_ms)], rng)


def duration_ms(steps: list[Step]) -> int:
    return sum(d for d, _ in steps)


def settled_presses(steps: list[Step], debounce_ms: int) -> list[tuple[int, int]]:
    """(start, end) of presses once toggles shorter than `debounce_ms` are ignored (for checks)."""
    presses: list[tuple[int, int]] = []
    t = 0
    level = False
    start = 0
    for i, (delay, pressed) in enumerate(steps):
        t += delay
        following = steps[i + 1][0] if i + 1 < len(steps) else debounce_ms
        if pressed == level or following < debounce_ms:
            continue
        level = pressed
        if pressed:
            start = t
        else:
            presses.append((start, t))
    return presses
