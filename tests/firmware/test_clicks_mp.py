"""The same generated click vectors replayed by firmware/clicks.py on the unix port and on
CPython: both must match the oracle, and each other (one micropython process for the batch)."""

from __future__ import annotations

from pathlib import Path

from rig.benchmarks import click_fuzz

BACKS = [0, 3000]  # from tick 0, and across the port's ticks wraparound


def test_unix_port_replays_vectors_like_cpython(tmp_path: Path) -> None:
    vectors = click_fuzz.random_vectors(seed=20260101, count=150)
    on_mp = click_fuzz.replay_micropython(vectors, BACKS, tmp_path)
    on_cp = click_fuzz.replay_cpython(vectors, BACKS)
    assert len(on_mp) == len(vectors) * len(BACKS)
    assert click_fuzz.mismatches(vectors, BACKS, on_mp) == []
    assert on_mp == on_cp


def test_unix_port_uses_its_own_ticks_period(tmp_path: Path) -> None:
    """The port's add/diff are time.ticks_add/ticks_diff (not the CPython fallback)."""
    src = (
        "import json, time, clicks\n"
        "top = time.ticks_add(0, -1)\n"
        "print(json.dumps([clicks.add is time.ticks_add, clicks.diff(0, top), clicks.add(top, 1)]))\n"
    )
    from rig.unix_port.process import run_mp_json

    assert run_mp_json(src, workdir=tmp_path) == [True, 1, 0]
