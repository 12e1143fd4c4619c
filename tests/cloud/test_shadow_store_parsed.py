"""ShadowStore keeps parsed copies of the shadows each connection last wrote (issue #4); a write
by anybody else (another connection, or this one outside ShadowStore) must never be missed."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from rig.cloud.core.store import Store
from rig.cloud.shadow.store import ShadowStore


def _update(shadows: ShadowStore, thing: str, reported: dict[str, object]) -> int:
    outcome = shadows.handle(
        "update", thing, json.dumps({"state": {"reported": reported}}).encode()
    )
    assert outcome.error is None and outcome.accepted is not None
    return int(outcome.accepted["version"])


def _reported(shadows: ShadowStore, thing: str) -> dict[str, object]:
    outcome = shadows.handle("get", thing, b"")
    assert outcome.accepted is not None
    return outcome.accepted["state"]["reported"]


def test_another_connections_write_is_seen(tmp_path: Path) -> None:
    mine, theirs = ShadowStore(Store(tmp_path / "db")), ShadowStore(Store(tmp_path / "db"))
    assert _update(mine, "t1", {"a": 1}) == 1
    assert _update(theirs, "t1", {"b": 2}) == 2  # e.g. the REST API in the CLI's process
    assert _update(mine, "t1", {"c": 3}) == 3
    assert _reported(mine, "t1") == {"a": 1, "b": 2, "c": 3}


def test_another_threads_write_is_seen(tmp_path: Path) -> None:
    shadows = ShadowStore(Store(tmp_path / "db"))  # one connection per thread
    assert _update(shadows, "t2", {"a": 1}) == 1
    worker = threading.Thread(target=_update, args=(shadows, "t2", {"b": 2}))
    worker.start()
    worker.join()
    assert _update(shadows, "t2", {"c": 3}) == 3
    assert _reported(shadows, "t2") == {"a": 1, "b": 2, "c": 3}


def test_a_write_on_the_same_connection_outside_the_store_is_seen(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    shadows = ShadowStore(store)
    assert _update(shadows, "t3", {"a": 1}) == 1
    with store.write() as db:  # same thread, same connection: data_version does not move
        db.execute("DELETE FROM shadows WHERE thing_name = 't3'")
    assert _update(shadows, "t3", {"b": 2}) == 1
    assert _reported(shadows, "t3") == {"b": 2}


def test_a_rejected_or_failed_request_changes_nothing(tmp_path: Path) -> None:
    shadows = ShadowStore(Store(tmp_path / "db"))
    assert _update(shadows, "t4", {"a": 1}) == 1
    conflict = shadows.handle(
        "update", "t4", json.dumps({"state": {"reported": {"a": 9}}, "version": 7}).encode()
    )
    assert conflict.error is not None and conflict.error.code == 409
    assert _update(shadows, "t4", {"b": 2}) == 2
    assert _reported(shadows, "t4") == {"a": 1, "b": 2}
    assert _reported(ShadowStore(Store(tmp_path / "db")), "t4") == {"a": 1, "b": 2}
