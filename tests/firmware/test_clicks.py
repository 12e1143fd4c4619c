"""firmware/clicks.py on CPython: Hypothesis-generated gestures against the oracle, explicit
threshold cases, ticks wraparound.

The generator and oracle are shared with the benchmark (rig/benchmarks/click_fuzz.py); the replay
polls the detector at each deadline() it announces, so an event must be decided exactly at its
decision time: `[type, decided_at, polled_at]` must equal `[type, t, t]` from the oracle.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rig.benchmarks import click_fuzz

clicks = click_fuzz.load_clicks()
WRAP_BACK = 3000  # the replay's base lies this many ms before the ticks wraparound


def replay(vec: dict[str, Any], back: int = 0) -> dict[str, Any]:
    return click_fuzz.replay_cpython([vec], [back])[0]


def expected(vec: dict[str, Any]) -> list[list[Any]]:
    return [[kind, t, t] for kind, t in vec["expect"]]


@st.composite
def vectors(draw: st.DrawFn) -> dict[str, Any]:
    return click_fuzz.generate(lambda lo, hi: draw(st.integers(lo, hi)), gestures=4)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(vectors(), st.sampled_from([0, WRAP_BACK, 7]))
def test_fuzzed_gestures_match_the_oracle(vec: dict[str, Any], back: int) -> None:
    result = replay(vec, back)
    assert result["events"] == expected(vec), f"ops: {vec['ops']}"
    assert result["idle"], "the detector is not idle after the last gesture"


def vec(ops: list[list[Any]], cfg: tuple[int, int, int] = (50, 400, 1500)) -> dict[str, Any]:
    return {"cfg": list(cfg), "ops": ops}


def press(at: int, hold: int) -> list[list[Any]]:
    return [["e", at, 1], ["e", at + hold, 0]]


CASES = {
    # name: (ops, expected [type, t])
    "single": (press(0, 100), [["SINGLE", 500]]),
    "double window just inside": (
        press(0, 100) + press(100 + 399, 100),
        [["DOUBLE", 499 + 50]],
    ),
    "double window exactly at the limit is two singles": (
        press(0, 100) + press(100 + 400, 100),
        [["SINGLE", 500], ["SINGLE", 500 + 100 + 400]],
    ),
    "long exactly at the threshold": (press(0, 1500), [["LONG", 1500]]),
    "one ms short of long": (press(0, 1499), [["SINGLE", 1499 + 400]]),
    "double then held long stays double": (
        press(0, 100) + press(200, 5000),
        [["DOUBLE", 250]],
    ),
    "glitch shorter than debounce is ignored": ([["e", 0, 1], ["e", 49, 0]], []),
    "press exactly debounce long counts": (press(0, 50), [["SINGLE", 450]]),
    "bounce burst counts from its first edge": (
        [
            ["e", 0, 1],
            ["e", 3, 0],
            ["e", 9, 1],
            ["e", 9, 1],
            ["e", 1499, 0],
            ["e", 1510, 1],
            ["e", 1515, 0],
        ],
        [["SINGLE", 1499 + 400]],
    ),
    "triple press: double then a new single": (
        press(0, 100) + press(200, 100) + press(400, 100),
        [["DOUBLE", 250], ["SINGLE", 900]],
    ),
    "long then quick press is a new gesture": (
        press(0, 1600) + press(1700, 100),
        [["LONG", 1500], ["SINGLE", 2200]],
    ),
    "glitch across the single deadline postpones it": (
        [*press(0, 100), ["e", 480, 1], ["e", 520, 0]],
        [["SINGLE", 570]],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("back", [0, WRAP_BACK, 1450])
def test_explicit_cases(name: str, back: int) -> None:
    ops, want = CASES[name]
    result = replay(vec(ops), back)
    assert result["events"] == [[k, t, t] for k, t in want]
    assert result["idle"]


def test_timing_change_applies_from_the_next_gesture() -> None:
    det = clicks.ClickDetector()
    det.feed(1, 0)
    det.configure(long_ms=600)  # during a gesture: not yet
    assert det.poll(700) is None
    det.feed(0, 1000)  # held 1000 ms < 1500: still short
    assert det.poll(1400) == "SINGLE"
    assert det.timings() == (50, 400, 600)
    det.feed(1, 2000)
    assert det.poll(2599) is None
    assert det.poll(2600) == "LONG"
    assert det.decided_at == 2600


def test_a_gesture_is_being_decided_until_its_kind_is_known() -> None:
    """What a blocking call waits for (firmware/stall.py quiet): not while a LONG is held on."""
    det = clicks.ClickDetector()
    assert not det.deciding()
    det.feed(True, 0)
    assert det.deciding()  # a press: SINGLE, DOUBLE or LONG to come
    det.feed(False, 100)
    assert det.poll(300) is None and det.deciding()  # the double window is open
    assert det.poll(500) == "SINGLE" and not det.deciding()
    det.feed(True, 1000)
    assert det.poll(2500) == "LONG" and not det.deciding()  # decided, though still held
    assert not det.idle()
    det.feed(False, 9000)
    assert det.deciding()  # an edge is debounced before it counts: 50 ms
    assert det.poll(9050) is None and det.idle() and not det.deciding()


def test_deadline_announces_each_decision() -> None:
    det = clicks.ClickDetector()
    assert det.deadline() is None and det.idle()
    det.feed(True, 10)
    assert det.deadline() == 60  # debounce resolution
    assert det.poll(60) is None
    assert det.deadline() == 1510  # LONG threshold
    det.feed(False, 200)
    assert not det.idle()
    assert det.poll(599) is None
    assert det.deadline() == 600
    assert det.poll(600) == "SINGLE" and det.decided_at == 600
    assert det.poll(600) is None and det.idle() and det.deadline() is None


def test_wraparound_arithmetic_matches_micropython_ticks() -> None:
    top = (1 << 30) - 1
    assert clicks.add(top, 1) == 0
    assert clicks.diff(0, top) == 1
    assert clicks.diff(top, 0) == -1


def test_late_poll_returns_every_decided_event_in_order() -> None:
    det = clicks.ClickDetector()
    for at in (0, 1000, 3000):
        det.feed(1, at)
        det.feed(0, at + 100)
    got = []
    while (kind := det.poll(10_000)) is not None:
        got.append((kind, det.decided_at))
    assert got == [("SINGLE", 500), ("SINGLE", 1500), ("SINGLE", 3500)]


def drained(det: Any, at: int) -> list[tuple[str, int]]:
    got = []
    while (kind := det.poll(at)) is not None:
        got.append((kind, det.decided_at))
    return got


@pytest.mark.parametrize(
    ("release_at", "expect"),
    [
        (10, [("SINGLE", 410)]),  # released within debounce_ms: fed, it would be a glitch
        (None, [("SINGLE", 400)]),  # released before the firmware looked: the end is unknown
        (1600, [("LONG", 1500)]),
    ],
)
def test_a_confirmed_press_is_not_debounced(release_at: int | None, expect: Any) -> None:
    """The press that woke the chip: real however soon after tick 0 it ends."""
    det = clicks.ClickDetector()
    det.confirmed_press(0)
    det.feed(0, 0 if release_at is None else release_at)
    assert drained(det, 5000) == expect
    assert det.idle()


def test_the_same_press_fed_is_a_glitch_when_released_within_debounce() -> None:
    det = clicks.ClickDetector()  # what the confirmed press is for
    det.feed(1, 0)
    det.feed(0, 10)
    assert drained(det, 5000) == [] and det.idle()


class _LateSingle(clicks.ClickDetector):  # type: ignore[misc, name-defined]
    """A subtly wrong detector: SINGLE decided one ms late."""

    def _due(self) -> Any:
        due = super()._due()
        if due is not None and due[1] and self._state == 2:
            return (clicks.add(due[0], 1), True)
        return due


def test_fuzz_detects_a_wrong_detector() -> None:
    vectors_ = click_fuzz.random_vectors(seed=5, count=100)
    assert click_fuzz.mismatches(vectors_, [0], click_fuzz.replay_cpython(vectors_, [0])) == []
    scope: dict[str, Any] = {}
    exec(click_fuzz.REPLAY_SRC, scope)
    results = [scope["replay"](v, 0, _LateSingle, clicks.add, clicks.diff) for v in vectors_]
    assert click_fuzz.misclassified(vectors_, [0], results) > 0
