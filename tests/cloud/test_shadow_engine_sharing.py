"""The shadow engine shares untouched subtrees between the stored shadow and the updated one
instead of copying them (issue #4). So: it must never modify a Shadow it is given, and every
reply body it returns must be independent of every shadow (callers may edit replies)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rig.cloud.shadow import engine as sh

KEYS = st.sampled_from(["a", "b", "c"])
LEAVES = st.none() | st.integers(-2, 2) | st.booleans() | st.lists(st.integers(0, 2), max_size=2)
TREES = st.recursive(LEAVES, lambda inner: st.dictionaries(KEYS, inner, max_size=3), max_leaves=8)
SECTION = st.none() | st.dictionaries(KEYS, TREES, max_size=3)
STATES = st.none() | st.fixed_dictionaries({}, optional={"desired": SECTION, "reported": SECTION})


def _scribble(value: Any) -> None:
    """Modify every dict and list inside `value`, as a careless caller might."""
    if isinstance(value, dict):
        for child in list(value.values()):
            _scribble(child)
        value["scribbled"] = [0]
    elif isinstance(value, list):
        for child in value:
            _scribble(child)
        value.append("scribbled")


@given(st.lists(STATES, min_size=1, max_size=6))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_inputs_untouched_and_replies_independent(states: list[dict[str, Any] | None]) -> None:
    current: sh.Shadow | None = None
    history: list[tuple[sh.Shadow, str]] = []  # every shadow so far, with its stored form
    for now, state in enumerate(states, start=1):
        try:
            result = sh.update(current, json.dumps({"state": state}).encode(), now)
        except sh.ShadowError:
            continue
        history.append((result.shadow, result.shadow.to_json()))
        expected_get = json.dumps(sh.get(result.shadow, b"", now))
        for body in (result.accepted, result.delta, result.documents):
            _scribble(body)
        body = sh.get(result.shadow, b"", now)
        assert json.dumps(body) == expected_get
        _scribble(body)
        _scribble(sh.delta_of(result.shadow))
        for shadow, stored in history:  # neither the engine nor the scribbling changed any
            assert shadow.to_json() == stored
        current = result.shadow
