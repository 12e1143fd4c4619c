"""The cloud model's state: one SQLite database in WAL mode, shared by every process of a rig.

`synchronous=NORMAL` in WAL mode: a transaction that returned is in the WAL, which the OS keeps
when the process dies, so an acknowledged shadow update survives a kill -9 of the cloud (benchmark
`cloud_restart_lost`). Only a power loss of the host could roll back the last commits; for a local
rig that trade is worth the fsync it saves on every shadow request (shadow_rtt_ratio 4.3 → 3.4).

Schema versions are kept per *component*, each with its own ordered migration list; each service
(registry, certificates, policies, shadow, presence, clicks, and later jobs, rules, 1-Click) calls
`store.migrate("<component>", MIGRATIONS)` from its own package's `store.py` with its own tables,
and never touches the core list below. Append to a list, never edit a released entry.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

CORE_MIGRATIONS: tuple[str, ...] = (
    # The tables every service shares: the event outbox the cloud service publishes from, and
    # named counters (auth_generation, auth_applied). Until the split into services this list
    # also created every service's tables; each service now creates them in its own first
    # migration, `IF NOT EXISTS`, so a database from before the split keeps working.
    """
    CREATE TABLE IF NOT EXISTS outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB NOT NULL,
        created_ms INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    """,
    """
    CREATE TABLE IF NOT EXISTS event_configurations (
        event_type TEXT PRIMARY KEY, enabled INTEGER NOT NULL);
    """,
)


class Store:
    """SQLite access: one connection per thread, explicit write transactions."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self.write() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_versions"
                " (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
            )
        self.migrate("core", CORE_MIGRATIONS)

    def connection(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            self._local.db = db
        return db

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE: writers queue instead of failing later).

        Inside another write transaction of this thread it is a savepoint of that one, so an
        operation made of several services' operations (a provisioning template: thing,
        certificate, policy, attachments) commits whole or not at all."""
        db = self.connection()
        if db.in_transaction:
            db.execute("SAVEPOINT nested")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK TO nested")
                db.execute("RELEASE nested")
                raise
            db.execute("RELEASE nested")
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def read(self) -> sqlite3.Connection:
        return self.connection()

    def migrate(self, component: str, migrations: Sequence[str]) -> None:
        """Apply the migrations of `component` not applied yet, each in its own transaction."""
        with self.write() as db:
            row = db.execute(
                "SELECT version FROM schema_versions WHERE component = ?", (component,)
            ).fetchone()
            done = row["version"] if row else 0
            if done > len(migrations):
                raise RuntimeError(
                    f"database {self.path} has {component} schema version {done}, newer than"
                    f" this code ({len(migrations)}): upgrade the rig"
                )
            for number in range(done, len(migrations)):
                for statement in _statements(migrations[number]):
                    db.execute(statement)
                db.execute(
                    "INSERT INTO schema_versions (component, version) VALUES (?, ?)"
                    " ON CONFLICT(component) DO UPDATE SET version = excluded.version",
                    (component, number + 1),
                )

    def bump(self, db: sqlite3.Connection, counter: str) -> int:
        """Increment a named counter inside the caller's transaction; return the new value."""
        db.execute(
            "INSERT INTO counters (name, value) VALUES (?, 1)"
            " ON CONFLICT(name) DO UPDATE SET value = value + 1",
            (counter,),
        )
        return int(
            db.execute("SELECT value FROM counters WHERE name = ?", (counter,)).fetchone()[0]
        )

    def counter(self, name: str) -> int:
        row = self.read().execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def set_counter(self, name: str, value: int) -> None:
        with self.write() as db:
            db.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?)"
                " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    def close(self) -> None:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


def _statements(script: str) -> list[str]:
    # executescript() would commit our transaction; split on ';' (no ';' inside our DDL strings)
    return [part.strip() for part in script.split(";") if part.strip()]
