"""Who is connected: the presence table (component `lifecycle` of the cloud database).

Read by the auth compiler too (rig/cloud/auth/compiler.py, through the runtime): whether a
client id with a refused certificate is still connected decides when its block takes effect.
"""

from __future__ import annotations

from rig.cloud.core.store import Store

# `IF NOT EXISTS`: a database from before the split into services has it under `core` already.
LIFECYCLE_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS presence (
        client_id TEXT PRIMARY KEY, connected INTEGER NOT NULL, session_id TEXT,
        principal TEXT, changed_ms INTEGER NOT NULL);
    """,
)


class PresenceStore:
    """The last connect or disconnect the cloud saw of each client id."""

    def __init__(self, store: Store) -> None:
        self.store = store
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
