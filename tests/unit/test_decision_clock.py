"""A board's click decision put on the host's clock (rig/benchmarks/_decision.py): the board's
ticks less its time namespace's offset, refused when the gesture timing disagrees."""

from __future__ import annotations

import pytest

from rig.benchmarks._decision import CLOCK_CHECK_MS, DecidedClick, percentile


def test_latency_is_the_end_on_the_boards_ticks_less_the_decision() -> None:
    # a board started at host 75_000 s: its ticks read host - 75_000_000 ms
    click = DecidedClick({"t": 4_946}, planned_ms=75_004_940.0, offset_ms=-75_000_000.0)
    assert click.latency_to(75_005_008.5) == pytest.approx(62.5)


def test_a_clock_that_disagrees_with_the_gesture_timing_is_refused() -> None:
    # the host's monotonic ms taken for ticks (no offset): what the mod-2**30 conversion did
    click = DecidedClick({"t": 4_946}, planned_ms=75_004_940.0, offset_ms=0.0)
    with pytest.raises(RuntimeError, match="disagree"):
        click.latency_to(75_005_008.5)
    late = DecidedClick(
        {"t": 4_946}, planned_ms=75_004_940.0 - CLOCK_CHECK_MS - 70, offset_ms=-75_000_000.0
    )
    with pytest.raises(RuntimeError, match="disagree"):
        late.latency_to(75_005_008.5)


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 201)]
    assert percentile(values, 50) == 100.0
    assert percentile(values, 99) == 198.0
    assert percentile([7.0], 99) == 7.0
