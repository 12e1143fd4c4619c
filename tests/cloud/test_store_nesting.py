"""`Store.write()` inside another write transaction of the thread is a savepoint of it: an
operation made of several services' operations commits whole or not at all (provisioning)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.cloud.core.store import Store


def names(store: Store) -> list[str]:
    return [r[0] for r in store.read().execute("SELECT name FROM counters ORDER BY name")]


def test_a_failing_outer_transaction_takes_the_inner_ones_with_it(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    with pytest.raises(RuntimeError), store.write() as db:
        db.execute("INSERT INTO counters (name, value) VALUES ('outer', 1)")
        with store.write() as inner:
            inner.execute("INSERT INTO counters (name, value) VALUES ('inner', 1)")
        raise RuntimeError("a later step fails")
    assert names(store) == []


def test_an_inner_failure_caught_rolls_back_only_the_inner_part(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    with store.write() as db:
        db.execute("INSERT INTO counters (name, value) VALUES ('outer', 1)")
        with pytest.raises(RuntimeError), store.write() as inner:
            inner.execute("INSERT INTO counters (name, value) VALUES ('inner', 1)")
            raise RuntimeError("the inner step fails")
        db.execute("INSERT INTO counters (name, value) VALUES ('after', 1)")
    assert names(store) == ["after", "outer"]
    assert not store.connection().in_transaction  # the savepoint is gone with the commit
