import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rig import gestures


def edge_times(steps: list[tuple[int, bool]]) -> list[tuple[int, bool]]:
    t, out = 0, []
    for delay, pressed in steps:
        t += delay
        out.append((t, pressed))
    return out


def test_plain_gestures_are_exact() -> None:
    assert gestures.single(120) == [(0, True), (120, False)]
    assert gestures.double(100, 150, 90) == [(0, True), (100, False), (150, True), (90, False)]
    assert gestures.long(1600) == [(0, True), (1600, False)]


@given(
    seed=st.integers(0, 2**32),
    holds=st.lists(st.tuples(st.integers(60, 500), st.integers(60, 3000)), min_size=1, max_size=3),
)
def test_bounce_keeps_holds_and_gaps(seed: int, holds: list[tuple[int, int]]) -> None:
    steps = gestures.from_holds(holds, random.Random(seed))
    assert all(delay >= 0 for delay, _ in steps)
    assert steps[-1][1] is False, "a gesture ends released"
    assert all(a[1] != b[1] for a, b in itertools.pairwise(steps)), "levels alternate"
    # Every press and release starts at its nominal time; bursts settle within 20 ms.
    times = edge_times(steps)
    t = 0
    for gap, hold in holds:
        t += gap
        assert (t, True) in times
        t += hold
        assert (t, False) in times
    settled = gestures.settled_presses(steps, debounce_ms=21)
    assert len(settled) == len(holds), f"{steps} settles into {settled}"
    t = 0
    for (gap, hold), (start, end) in zip(holds, settled, strict=True):
        t += gap
        assert t <= start <= t + gestures.BOUNCE_MAX_MS
        t += hold
        assert t <= end <= t + gestures.BOUNCE_MAX_MS


def test_bounce_is_reproducible_and_actually_bounces() -> None:
    a = gestures.double(rng=random.Random(7))
    assert a == gestures.double(rng=random.Random(7))
    assert len(a) > 4, f"no bounce toggles were added: {a}"
    bursts = [d for d, _ in a if d <= gestures.BOUNCE_MAX_MS]
    assert bursts and max(bursts) <= gestures.BOUNCE_MAX_MS


def test_impossible_gesture_is_refused() -> None:
    with pytest.raises(ValueError, match="hold > 0"):
        gestures.from_holds([(0, 0)])
    with pytest.raises(ValueError, match="gap >= 0"):
        gestures.from_holds([(-5, 100)])


def test_duration() -> None:
    assert gestures.duration_ms(gestures.double(100, 150, 90)) == 340


def test_lead_time_comes_first() -> None:
    assert gestures.single(100, lead_ms=300) == [(300, True), (100, False)]
    assert gestures.long(1600, lead_ms=250)[0] == (250, True)
    assert gestures.double(lead_ms=80)[0] == (80, True)
