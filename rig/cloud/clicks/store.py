"""Click messages at the cloud: every message on `iotbutton/+` is recorded once per `eventId`.

The button sends a click until it sees the PUBACK, so after a power cut or a lost connection the
same click can arrive twice (docs/architecture.md, "at least once"); the cloud model keeps the first
copy and counts the others (`copies`). Records persist in the cloud's database (component
`clicks`), with the receive time on the host's wall clock and monotonic clock (for latency
benchmarks: the emulated board's `ticks_ms` is the same monotonic clock).

API for tests and later layers: `ClickLog(store).clicks(serial)`, `.wait_for(serial, n)`;
`Cloud.clicks(serial)` delegates here. Layers above (the 1-Click devices) add a `ClickObserver` to
`observers`: each is called with the `Click` once its first copy is stored (not for a resend), in
the recording thread, INSIDE the click's transaction, each in a savepoint of its own: once the
click is visible to anyone, so is what the observers wrote (a finalize-device-claim right after
the click is in the log finds the 1-Click event). One that raises is logged, its savepoint rolls
back, the click and the others' writes stay. What an observer returns (a `FollowUp`, such as a
callback's invocation) runs after the commit, outside any transaction: no slow work under the
write lock. docs/cloud-decisions.md C-12.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

from rig.cloud.clicks.engine import Click, ClickError, parse
from rig.cloud.core.store import Store

log = logging.getLogger(__name__)

FollowUp = Callable[[], None]
"""Work an observer leaves for after the click's commit (a 1-Click callback's invocation)."""
ClickObserver = Callable[[Click], "FollowUp | None"]
"""Called inside the click's transaction; its writes commit with the click or not at all."""

CLICKS_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE clicks (
        event_id TEXT PRIMARY KEY, serial TEXT NOT NULL, topic TEXT NOT NULL,
        click_type TEXT NOT NULL, battery_voltage TEXT NOT NULL, reported_time TEXT NOT NULL,
        payload TEXT NOT NULL, received_ms INTEGER NOT NULL, received_mono_ms REAL NOT NULL,
        copies INTEGER NOT NULL DEFAULT 1);
    CREATE INDEX clicks_by_serial ON clicks (serial, received_ms);
    CREATE TABLE click_rejects (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, reason TEXT NOT NULL,
        received_ms INTEGER NOT NULL);
    """,
)


class ClickLog:
    """The clicks table of one cloud database."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.observers: list[ClickObserver] = []
        store.migrate("clicks", CLICKS_MIGRATIONS)

    def record(self, topic: str, payload: bytes) -> bool:
        """Store a click message; False when its eventId was there already (a resend)."""
        received_mono_ms = time.monotonic() * 1000
        received_ms = int(time.time() * 1000)
        try:
            message = parse(topic, payload)
        except ClickError as exc:
            with self.store.write() as db:
                db.execute(
                    "INSERT INTO click_rejects (topic, reason, received_ms) VALUES (?, ?, ?)",
                    (topic, str(exc), received_ms),
                )
            log.warning("not a click message on %s: %s", topic, exc)
            return False
        with self.store.write() as db:
            cursor = db.execute(
                "INSERT INTO clicks (event_id, serial, topic, click_type, battery_voltage,"
                " reported_time, payload, received_ms, received_mono_ms)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(event_id) DO NOTHING",
                (
                    message["eventId"],
                    message["serialNumber"],
                    topic,
                    message["clickType"],
                    message["batteryVoltage"],
                    message["reportedTime"],
                    payload.decode(),
                    received_ms,
                    received_mono_ms,
                ),
            )
            if not cursor.rowcount:
                db.execute(
                    "UPDATE clicks SET copies = copies + 1 WHERE event_id = ?",
                    (message["eventId"],),
                )
                return False
            click = Click(
                event_id=message["eventId"],
                serial=message["serialNumber"],
                topic=topic,
                click_type=message["clickType"],
                battery_voltage=message["batteryVoltage"],
                reported_time=message["reportedTime"],
                payload=message,
                received_ms=received_ms,
                received_mono_ms=received_mono_ms,
                copies=1,
            )
            follow_ups = self._tell_observers(click)
        self._run_follow_ups(click, follow_ups)
        return True

    def _tell_observers(self, click: Click) -> list[FollowUp]:
        """Each observer in a savepoint of the click's transaction (Store.write nests)."""
        follow_ups: list[FollowUp] = []
        for observer in self.observers:
            try:
                with self.store.write():
                    follow_up = observer(click)
            except Exception:
                log.exception("a click observer failed on %s (its writes undone)", click.event_id)
                continue
            if follow_up is not None:
                follow_ups.append(follow_up)
        return follow_ups

    def _run_follow_ups(self, click: Click, follow_ups: list[FollowUp]) -> None:
        for follow_up in follow_ups:
            try:
                follow_up()
            except Exception:
                log.exception("a click observer's follow-up failed on %s", click.event_id)

    def clicks(self, serial: str | None = None) -> list[Click]:
        """Recorded clicks (one per eventId), oldest first; all serials when None."""
        query = "SELECT * FROM clicks"
        args: tuple[str, ...] = ()
        if serial is not None:
            query += " WHERE serial = ?"
            args = (serial,)
        rows = self.store.read().execute(query + " ORDER BY received_ms, rowid", args).fetchall()
        return [
            Click(
                event_id=row["event_id"],
                serial=row["serial"],
                topic=row["topic"],
                click_type=row["click_type"],
                battery_voltage=row["battery_voltage"],
                reported_time=row["reported_time"],
                payload=json.loads(row["payload"]),
                received_ms=row["received_ms"],
                received_mono_ms=row["received_mono_ms"],
                copies=row["copies"],
            )
            for row in rows
        ]

    def rejects(self) -> list[tuple[str, str]]:
        """(topic, reason) of messages on iotbutton/+ that were not click messages."""
        rows = self.store.read().execute("SELECT topic, reason FROM click_rejects ORDER BY seq")
        return [(row["topic"], row["reason"]) for row in rows]

    def wait_for(self, serial: str, count: int, timeout: float = 30.0) -> list[Click]:
        """Wait until `count` distinct clicks of `serial` are recorded; TimeoutError naming the
        clicks that did arrive otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.clicks(serial)
            if len(got) >= count:
                return got
            if time.monotonic() > deadline:
                seen = [(c.click_type, c.event_id) for c in got]
                raise TimeoutError(
                    f"{len(got)} of {count} clicks of {serial} at the cloud within {timeout:.0f} s:"
                    f" {seen}; rejected messages: {self.rejects()[-5:]}"
                )
            time.sleep(0.02)

    def wait_for_ids(
        self, serial: str, event_ids: list[str], timeout: float = 30.0
    ) -> list[Click]:
        """Wait until every eventId in `event_ids` is recorded for `serial`; all its clicks."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.clicks(serial)
            missing = set(event_ids) - {c.event_id for c in got}
            if not missing:
                return got
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"clicks {sorted(missing)} of {serial} not at the cloud within {timeout:.0f} s;"
                    f" there: {[(c.click_type, c.event_id) for c in got]}"
                )
            time.sleep(0.02)
