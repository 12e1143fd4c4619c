"""Who is connected: the presence table (component `lifecycle` of the cloud database).

Read by the auth compiler too (rig/cloud/auth/compiler.py, through the runtime): whether a
client id with a refused certificate is still connected decides when its block takes effect.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from rig.cloud.core.store import Store

# `IF NOT EXISTS`: a database from before the split into services has it under `core` already.
LIFECYCLE_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS presence (
        client_id TEXT PRIMARY KEY, connected INTEGER NOT NULL, session_id TEXT,
        principal TEXT, changed_ms INTEGER NOT NULL);
    """,
)


# Called inside the write transaction of a recorded connect or disconnect with (db, client id):
# fleet indexing's dynamic groups may query connectivity (rig/cloud/indexing/dynamic.py).
PresenceObserver = Callable[[sqlite3.Connection, str], None]


class PresenceStore:
    """The last connect or disconnect the cloud saw of each client id."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.change_observers: list[PresenceObserver] = []
        store.migrate("lifecycle", LIFECYCLE_MIGRATIONS)

    def record(
        self, client_id: str, connected: bool, session: str, principal: str, changed_ms: int
    ) -> None:
        with self.store.write() as db:
            db.execute(
                "INSERT INTO presence (client_id, connected, session_id, principal, changed_ms)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(client_id) DO UPDATE SET"
                " connected = excluded.connected, session_id = excluded.session_id,"
                " principal = excluded.principal, changed_ms = excluded.changed_ms",
                (client_id, connected, session, principal, changed_ms),
            )
            for observer in self.change_observers:
                observer(db, client_id)

    def state(self, client_id: str) -> tuple[bool, int] | None:
        """(connected, when it last changed in epoch ms), or None when never seen."""
        row = (
            self.store.read()
            .execute(
                "SELECT connected, changed_ms FROM presence WHERE client_id = ?", (client_id,)
            )
            .fetchone()
        )
        return None if row is None else (bool(row["connected"]), int(row["changed_ms"]))

    def connected(self, client_id: str) -> bool | None:
        """Whether the cloud last saw `client_id` connected (None: never seen)."""
        state = self.state(client_id)
        return None if state is None else state[0]


def index_connectivity(db: sqlite3.Connection, thing_name: str | None = None) -> dict[str, Any]:
    """Connectivity as fleet indexing shows it (rig/cloud/indexing): client id → {connected,
    timestamp in epoch ms}; a thing's is its client id's, as AWS indexes the client id that
    matches the thing name."""
    if thing_name is None:
        rows = db.execute("SELECT client_id, connected, changed_ms FROM presence")
    else:
        rows = db.execute(
            "SELECT client_id, connected, changed_ms FROM presence WHERE client_id = ?",
            (thing_name,),
        )
    return {
        row["client_id"]: {"connected": bool(row["connected"]), "timestamp": row["changed_ms"]}
        for row in rows
    }
