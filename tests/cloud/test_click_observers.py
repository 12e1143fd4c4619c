"""The click log's observers (the layers above the clicks service, 1-Click among them): part of
the click's own transaction, each in its own savepoint; what they leave for later runs after the
commit (docs/cloud-decisions.md C-12)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from oneclick_kit import click_message

from rig.cloud.clicks.engine import Click
from rig.cloud.clicks.store import ClickLog
from rig.cloud.core.store import Store

SERIAL = "G030PM0123456789"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "cloud.db")
    with opened.write() as db:  # a table of the observers' own, as a layer above keeps
        db.execute("CREATE TABLE seen (observer TEXT NOT NULL, event_id TEXT NOT NULL)")
    yield opened
    opened.close()


def elsewhere(call: Callable[[], Any]) -> Any:
    """`call` run in another thread: its own connection, as another process's (the CLI's, a
    test's) would be; it sees only what is committed."""
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(call()))
    worker.start()
    worker.join(10.0)
    assert result, "the other connection did not answer"
    return result[0]


def seen(store: Store) -> list[tuple[str, str]]:
    rows = store.read().execute("SELECT observer, event_id FROM seen ORDER BY rowid")
    return [(row["observer"], row["event_id"]) for row in rows]


def remembering(store: Store, name: str) -> Callable[[Click], None]:
    def observer(click: Click) -> None:
        with store.write() as db:
            db.execute(
                "INSERT INTO seen (observer, event_id) VALUES (?, ?)", (name, click.event_id)
            )

    return observer


def test_no_one_sees_the_click_before_its_observers_wrote_theirs(store: Store) -> None:
    clicks = ClickLog(store)
    seen_meanwhile: list[tuple[list[str], list[tuple[str, str]]]] = []

    def probe(click: Click) -> None:  # what another connection sees while observers run
        del click
        seen_meanwhile.append(
            elsewhere(lambda: ([c.event_id for c in clicks.clicks(SERIAL)], seen(store)))
        )

    clicks.observers.extend([probe, remembering(store, "layer"), probe])
    message = click_message(SERIAL)
    assert clicks.record(f"iotbutton/{SERIAL}", message)
    # before the commit nothing of the click is visible; after it, the click and the layer's row
    assert seen_meanwhile == [([], []), ([], [])]
    (click,) = elsewhere(lambda: clicks.clicks(SERIAL))
    assert elsewhere(lambda: seen(store)) == [("layer", click.event_id)]


def test_a_failing_observer_loses_neither_the_click_nor_the_others_writes(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    clicks = ClickLog(store)
    wrote_then_failed = remembering(store, "failing")

    def failing(click: Click) -> None:
        wrote_then_failed(click)  # its write done, then it fails: the write goes with it
        raise RuntimeError("layer broken")

    clicks.observers.extend([failing, remembering(store, "after")])
    with caplog.at_level(logging.ERROR, logger="rig.cloud.clicks.store"):
        assert clicks.record(f"iotbutton/{SERIAL}", click_message(SERIAL))
    (click,) = elsewhere(lambda: clicks.clicks(SERIAL))
    assert elsewhere(lambda: seen(store)) == [("after", click.event_id)]
    assert "layer broken" in caplog.text and click.event_id in caplog.text
    assert not store.connection().in_transaction


def test_follow_ups_run_after_the_commit_in_order_and_a_failing_one_is_logged(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    clicks = ClickLog(store)
    ran: list[tuple[str, bool, list[str]]] = []

    def leaving(name: str, fails: bool = False) -> Callable[[Click], Callable[[], None]]:
        def observer(click: Click) -> Callable[[], None]:
            def follow_up() -> None:  # a callback's invocation: slow work, not under the lock
                visible = elsewhere(lambda: [c.event_id for c in clicks.clicks(SERIAL)])
                ran.append((name, store.connection().in_transaction, visible))
                if fails:
                    raise RuntimeError(f"{name} broken")

            del click
            return follow_up

        return observer

    clicks.observers.extend([leaving("first", fails=True), leaving("second")])
    with caplog.at_level(logging.ERROR, logger="rig.cloud.clicks.store"):
        assert clicks.record(f"iotbutton/{SERIAL}", click_message(SERIAL))
    (click,) = clicks.clicks(SERIAL)
    assert ran == [("first", False, [click.event_id]), ("second", False, [click.event_id])]
    assert "first broken" in caplog.text


def test_a_resend_tells_no_observer(store: Store) -> None:
    clicks = ClickLog(store)
    clicks.observers.append(remembering(store, "layer"))
    message = click_message(SERIAL)
    assert clicks.record(f"iotbutton/{SERIAL}", message)
    assert not clicks.record(f"iotbutton/{SERIAL}", message)
    (click,) = clicks.clicks(SERIAL)
    assert (click.copies, seen(store)) == (2, [("layer", click.event_id)])
