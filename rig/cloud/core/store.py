"""The cloud model's state: one SQLite database in WAL mode, shared by every process of a rig.

`synchronous=NORMAL` in WAL mode: a transaction that returned is in the WAL, which the OS keeps
when the process dies, so an acknowledged shadow update survives a kill -9 of the cloud (benchmark
`cloud_restart_lost`). Only a power loss of the host could roll back the last commits; for a local
rig that trade is worth the fsync it saves on every shadow request (shadow_rtt_ratio 4.3 → 3.4).

Schema versions are kept per *component*, each with its own ordered migration list; a later part
(jobs, rules, 1-Click) calls `store.migrate("jobs", JOBS_MIGRATIONS)` with its own tables and never
touches the core list below. Append to a list, never edit a released entry.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

CORE_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE things (
        name TEXT PRIMARY KEY, thing_id TEXT NOT NULL, type_name TEXT,
        attributes TEXT NOT NULL DEFAULT '{}', version INTEGER NOT NULL DEFAULT 1,
        created_ms INTEGER NOT NULL);
    CREATE TABLE thing_types (
        name TEXT PRIMARY KEY, type_id TEXT NOT NULL, description TEXT,
        searchable_attributes TEXT NOT NULL DEFAULT '[]', deprecated INTEGER NOT NULL DEFAULT 0,
        deprecation_ms INTEGER, created_ms INTEGER NOT NULL);
    CREATE TABLE thing_groups (
        name TEXT PRIMARY KEY, group_id TEXT NOT NULL, parent_name TEXT REFERENCES thing_groups,
        description TEXT, attributes TEXT NOT NULL DEFAULT '{}',
        version INTEGER NOT NULL DEFAULT 1, created_ms INTEGER NOT NULL);
    CREATE TABLE thing_group_members (
        group_name TEXT NOT NULL, thing_name TEXT NOT NULL, membership_id TEXT NOT NULL,
        PRIMARY KEY (group_name, thing_name));
    CREATE TABLE certificates (
        certificate_id TEXT PRIMARY KEY, pem TEXT NOT NULL, status TEXT NOT NULL,
        serial TEXT NOT NULL, common_name TEXT NOT NULL, created_ms INTEGER NOT NULL,
        modified_ms INTEGER NOT NULL);
    CREATE TABLE policies (
        name TEXT PRIMARY KEY, default_version INTEGER NOT NULL, created_ms INTEGER NOT NULL);
    CREATE TABLE policy_versions (
        name TEXT NOT NULL REFERENCES policies ON DELETE CASCADE, version INTEGER NOT NULL,
        document TEXT NOT NULL, created_ms INTEGER NOT NULL, PRIMARY KEY (name, version));
    CREATE TABLE policy_targets (
        policy_name TEXT NOT NULL, target TEXT NOT NULL, PRIMARY KEY (policy_name, target));
    CREATE TABLE thing_principals (
        thing_name TEXT NOT NULL, principal TEXT NOT NULL, PRIMARY KEY (thing_name, principal));
    CREATE TABLE shadows (
        thing_name TEXT NOT NULL, shadow_name TEXT NOT NULL DEFAULT '', document TEXT NOT NULL,
        PRIMARY KEY (thing_name, shadow_name));
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB NOT NULL,
        created_ms INTEGER NOT NULL);
    CREATE TABLE presence (
        client_id TEXT PRIMARY KEY, connected INTEGER NOT NULL, session_id TEXT,
        principal TEXT, changed_ms INTEGER NOT NULL);
    CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    """,
    """
    CREATE TABLE event_configurations (event_type TEXT PRIMARY KEY, enabled INTEGER NOT NULL);
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
        """A write transaction (BEGIN IMMEDIATE: writers queue instead of failing later)."""
        db = self.connection()
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
