"""A small reference model of the shadow merge and delta rules, independent of rig/cloud/shadow/engine.py,
for the Hypothesis state machines that run the engine (tests/cloud/test_shadow_engine.py) and the
stored service (tests/cloud/test_shadow_store_stateful.py) against it.

The model keeps each section flat: a map from leaf path to (value, timestamp of its last write).
Documents the service sends are flattened the same way and compared leaf by leaf.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

Path = tuple[str, ...]
SECTIONS = ("desired", "reported")
KEYS = st.sampled_from(["a", "b", "c"])
LEAVES = (
    st.integers(-3, 3)
    | st.booleans()
    | st.sampled_from(["x", "y"])
    | st.lists(st.integers(0, 2), max_size=2)
)
PATCH_VALUES = st.recursive(
    st.none() | LEAVES, lambda inner: st.dictionaries(KEYS, inner, max_size=3), max_leaves=6
)
PATCHES = st.dictionaries(KEYS, PATCH_VALUES, max_size=3)
SECTION_PATCH = st.none() | PATCHES


def canon(value: object) -> str:
    return json.dumps(value, sort_keys=True)


class FlatShadow:
    """Independent model: each section is a map from leaf path to (value, timestamp)."""

    def __init__(self) -> None:
        self.sections: dict[str, dict[Path, tuple[Any, int]]] = {"desired": {}, "reported": {}}
        self.version = 0
        self.exists = False

    def copy(self) -> FlatShadow:
        twin = FlatShadow()
        twin.sections = {name: dict(leaves) for name, leaves in self.sections.items()}
        twin.version, twin.exists = self.version, self.exists
        return twin

    def write(self, section: str, patch: dict[str, Any], prefix: Path, now: int) -> None:
        leaves = self.sections[section]
        for key, value in patch.items():
            path = (*prefix, key)
            for i in range(1, len(path)):  # a leaf at an ancestor becomes an object
                leaves.pop(path[:i], None)
            if isinstance(value, dict):
                leaves.pop(path, None)  # a leaf here becomes an object
                self.write(section, value, path, now)
                continue
            for below in [p for p in leaves if p[: len(path)] == path]:
                del leaves[below]  # null or a leaf replaces the whole subtree
            if value is not None:
                leaves[path] = (value, now)

    def delta(self) -> dict[Path, tuple[Any, int]]:
        reported = self.sections["reported"]
        return {
            path: entry
            for path, entry in self.sections["desired"].items()
            if path not in reported or canon(reported[path][0]) != canon(entry[0])
        }

    def accept_update(self, state: dict[str, Any] | None, now: int) -> bool:
        """Apply an accepted update's `state` (None: `{"state": null}`); return whether the
        service must publish /update/delta (decision S-16)."""
        before_delta = self.delta() if self.exists else None
        if state is None:
            self.sections = {"desired": {}, "reported": {}}
        else:
            for section in SECTIONS:
                if section not in state:
                    continue
                if state[section] is None:
                    self.sections[section] = {}
                else:
                    self.write(section, state[section], (), now)
        self.version += 1
        self.exists = True
        delta = self.delta()
        return bool(delta) and (
            (state is not None and isinstance(state.get("desired"), dict))
            or before_delta is None
            or {p: canon(v) for p, (v, _) in before_delta.items()}
            != {p: canon(v) for p, (v, _) in delta.items()}
        )

    def delete(self) -> None:
        """A delete keeps the version for a re-created shadow (decision S-1)."""
        self.sections = {"desired": {}, "reported": {}}
        self.exists = False


def flatten(tree: dict[str, Any], prefix: Path = ()) -> dict[Path, Any]:
    out: dict[Path, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, (*prefix, key)))
        else:
            out[(*prefix, key)] = value
    return out


def flat_meta(state: dict[str, Any], meta: dict[str, Any], prefix: Path = ()) -> dict[Path, int]:
    out: dict[Path, int] = {}
    for key, value in state.items():
        if isinstance(value, dict):
            out.update(flat_meta(value, meta[key], (*prefix, key)))
        else:
            out[(*prefix, key)] = meta[key]["timestamp"]
    return out


def check_delta_message(message: dict[str, Any], model: FlatShadow) -> None:
    """An /update/delta body (or a get reply's `delta`) holds exactly the model's delta."""
    delta = model.delta()
    assert flatten(message["state"]) == {p: v for p, (v, _) in delta.items()}
    assert flat_meta(message["state"], message["metadata"]) == {
        p: t for p, (_, t) in delta.items()
    }


def check_document(document: dict[str, Any], model: FlatShadow, with_delta: bool) -> None:
    """A full shadow document (get reply, or /documents previous/current) matches the model:
    version, each section's leaves and their timestamps, and the delta when `with_delta`."""
    assert document["version"] == model.version
    expected_keys = set(SECTIONS) | ({"delta"} if with_delta else set())
    assert set(document["state"]) <= expected_keys
    for section in SECTIONS:
        leaves = model.sections[section]
        tree = document["state"].get(section, {})
        assert (section in document["state"]) == bool(leaves), section
        assert {p: canon(v) for p, v in flatten(tree).items()} == {
            p: canon(v) for p, (v, _) in leaves.items()
        }, section
        assert flat_meta(tree, document["metadata"].get(section, {})) == {
            p: t for p, (_, t) in leaves.items()
        }, section
    if with_delta:
        delta = model.delta()
        assert ("delta" in document["state"]) == bool(delta)
        if delta:
            check_delta_message(
                {"state": document["state"]["delta"], "metadata": document["metadata"]["delta"]},
                model,
            )
