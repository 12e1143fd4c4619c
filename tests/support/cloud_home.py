"""A reference cloud in a new home under a test's tmp_path, opened in process (no broker, no
server) with the things a test needs, and what it has queued to publish: the set-up the cloud
service tests share."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from rig.cloud.api import Cloud


@contextmanager
def cloud_with_things(tmp_path: Path, things: Iterable[str] = ()) -> Iterator[Cloud]:
    """The cloud of `tmp_path/home` with `things` created, closed when the block ends."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    cloud = Cloud(home)
    try:
        for thing in things:
            cloud.create_thing(thing)
        yield cloud
    finally:
        cloud.close()


def drain_topics(cloud: Cloud) -> list[str]:
    """The topics queued since the last call, in order; the outbox is emptied."""
    with cloud.store.write() as db:
        rows = db.execute("SELECT topic FROM outbox ORDER BY seq").fetchall()
        db.execute("DELETE FROM outbox")
    return [row["topic"] for row in rows]


def crash_after_first_enqueue(monkeypatch: pytest.MonkeyPatch, module: ModuleType) -> list[str]:
    """`module.enqueue` writes one outbox row, then raises as a process killed between the rows
    of one transaction would stop; returns the topics written (`monkeypatch.undo()` ends it)."""
    real_enqueue = module.enqueue
    written: list[str] = []

    def enqueue_then_crash(db: sqlite3.Connection, topic: str, payload: dict[str, Any]) -> None:
        if written:
            raise RuntimeError("killed between the outbox rows")
        written.append(topic)
        real_enqueue(db, topic, payload)

    monkeypatch.setattr(module, "enqueue", enqueue_then_crash)
    return written
