"""Local Lambda functions in the cloud's database (component `functions`).

* `lambda_functions`: one row per function, its configuration (the code is a zip under the rig
  home, named by its SHA-256) and its invocation/error/timeout counts (the Lambda metrics
  Invocations, Errors and, ours, Timeouts).
* `lambda_events`: asynchronous ("Event") invocations, kept until the function ran them; one
  that failed on every attempt stays, `failed`, with its last error (L-4).
* `lambda_logs`: the functions' log output (CloudWatch Logs' log group /aws/lambda/<name>, one
  stream per worker process as Lambda has one per execution environment).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from rig.cloud.core.events import now_ms
from rig.cloud.core.store import Store

FUNCTIONS_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE lambda_functions (
        name TEXT PRIMARY KEY, configuration TEXT NOT NULL,
        invocations INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0,
        timeouts INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE lambda_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, function_name TEXT NOT NULL,
        event TEXT NOT NULL, created_ms INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
        not_before_ms INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL DEFAULT 'pending',
        last_error TEXT);
    CREATE INDEX lambda_events_pending ON lambda_events (state, function_name, seq);
    CREATE TABLE lambda_logs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, log_group TEXT NOT NULL,
        log_stream TEXT NOT NULL, timestamp_ms INTEGER NOT NULL, message TEXT NOT NULL);
    CREATE INDEX lambda_logs_by_group ON lambda_logs (log_group, seq);
    """,
    # the function's resource-based policy (add-permission / get-policy), a JSON list of
    # statements
    """
    ALTER TABLE lambda_functions ADD COLUMN policy TEXT NOT NULL DEFAULT '[]';
    """,
)


class FunctionStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        store.migrate("functions", FUNCTIONS_MIGRATIONS)

    # ---- configurations -----------------------------------------------------------------

    def configuration(self, name: str) -> dict[str, Any] | None:
        row = (
            self.store.read()
            .execute("SELECT configuration FROM lambda_functions WHERE name = ?", (name,))
            .fetchone()
        )
        return None if row is None else json.loads(row["configuration"])

    def configurations(self) -> list[dict[str, Any]]:
        rows = self.store.read().execute(
            "SELECT configuration FROM lambda_functions ORDER BY name"
        )
        return [json.loads(row["configuration"]) for row in rows]

    def insert(self, db: sqlite3.Connection, name: str, configuration: dict[str, Any]) -> None:
        db.execute(
            "INSERT INTO lambda_functions (name, configuration) VALUES (?, ?)",
            (name, json.dumps(configuration)),
        )

    def update(self, db: sqlite3.Connection, name: str, configuration: dict[str, Any]) -> None:
        db.execute(
            "UPDATE lambda_functions SET configuration = ? WHERE name = ?",
            (json.dumps(configuration), name),
        )

    def delete(self, db: sqlite3.Connection, name: str) -> None:
        db.execute("DELETE FROM lambda_functions WHERE name = ?", (name,))

    def statements(self, name: str) -> list[dict[str, Any]]:
        row = (
            self.store.read()
            .execute("SELECT policy FROM lambda_functions WHERE name = ?", (name,))
            .fetchone()
        )
        return [] if row is None else json.loads(row[0])

    def set_statements(
        self, db: sqlite3.Connection, name: str, statements: list[dict[str, Any]]
    ) -> None:
        db.execute(
            "UPDATE lambda_functions SET policy = ? WHERE name = ?", (json.dumps(statements), name)
        )

    def count(self, name: str, error: bool, timeout: bool) -> None:
        with self.store.write() as db:
            db.execute(
                "UPDATE lambda_functions SET invocations = invocations + 1,"
                " errors = errors + ?, timeouts = timeouts + ? WHERE name = ?",
                (int(error), int(timeout), name),
            )

    def metrics(self, name: str) -> dict[str, int]:
        row = (
            self.store.read()
            .execute(
                "SELECT invocations, errors, timeouts FROM lambda_functions WHERE name = ?",
                (name,),
            )
            .fetchone()
        )
        if row is None:
            return {"Invocations": 0, "Errors": 0, "Timeouts": 0}
        return {"Invocations": row[0], "Errors": row[1], "Timeouts": row[2]}

    # ---- asynchronous events ----------------------------------------------------------------

    def enqueue(self, name: str, event: Any) -> int:
        with self.store.write() as db:
            cursor = db.execute(
                "INSERT INTO lambda_events (function_name, event, created_ms) VALUES (?, ?, ?)",
                (name, json.dumps(event), now_ms()),
            )
            return int(cursor.lastrowid or 0)

    def due(self, now: int) -> list[tuple[str, int]]:
        """(function, first pending event seq) for each function with an event due now."""
        rows = self.store.read().execute(
            "SELECT function_name, MIN(seq) FROM lambda_events"
            " WHERE state = 'pending' AND not_before_ms <= ? GROUP BY function_name",
            (now,),
        )
        return [(row[0], row[1]) for row in rows]

    def next_event(self, name: str, now: int) -> tuple[int, Any, int] | None:
        """The oldest pending event of `name` that is due: (seq, event, attempts so far)."""
        row = (
            self.store.read()
            .execute(
                "SELECT seq, event, attempts FROM lambda_events WHERE function_name = ?"
                " AND state = 'pending' AND not_before_ms <= ? ORDER BY seq LIMIT 1",
                (name, now),
            )
            .fetchone()
        )
        return None if row is None else (row[0], json.loads(row[1]), row[2])

    def done(self, seq: int) -> None:
        with self.store.write() as db:
            db.execute("DELETE FROM lambda_events WHERE seq = ?", (seq,))

    def failed_attempt(self, seq: int, error: str, retry_at_ms: int | None) -> None:
        """Record a failed attempt: due again at `retry_at_ms`, or `failed` for good (None)."""
        with self.store.write() as db:
            db.execute(
                "UPDATE lambda_events SET attempts = attempts + 1, last_error = ?,"
                " not_before_ms = ?, state = ? WHERE seq = ?",
                (error, retry_at_ms or 0, "pending" if retry_at_ms else "failed", seq),
            )

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """Every kept event (pending or failed), oldest first; for tests and diagnosis."""
        rows = self.store.read().execute(
            "SELECT seq, function_name, event, attempts, state, last_error FROM lambda_events"
            " WHERE ? IS NULL OR function_name = ? ORDER BY seq",
            (name, name),
        )
        return [
            {
                "seq": row[0],
                "functionName": row[1],
                "event": json.loads(row[2]),
                "attempts": row[3],
                "state": row[4],
                "lastError": row[5],
            }
            for row in rows
        ]

    # ---- logs --------------------------------------------------------------------------

    def append_log(self, group: str, stream: str, messages: list[str]) -> None:
        if not messages:
            return
        stamp = now_ms()
        with self.store.write() as db:
            db.executemany(
                "INSERT INTO lambda_logs (log_group, log_stream, timestamp_ms, message)"
                " VALUES (?, ?, ?, ?)",
                [(group, stream, stamp, message) for message in messages],
            )

    def log_events(self, group: str, after_seq: int, since_ms: int = 0) -> list[sqlite3.Row]:
        return list(
            self.store.read().execute(
                "SELECT seq, log_stream, timestamp_ms, message FROM lambda_logs"
                " WHERE log_group = ? AND seq > ? AND timestamp_ms >= ? ORDER BY seq",
                (group, after_seq, since_ms),
            )
        )

    def log_group_exists(self, group: str) -> bool:
        row = (
            self.store.read()
            .execute("SELECT 1 FROM lambda_logs WHERE log_group = ? LIMIT 1", (group,))
            .fetchone()
        )
        return row is not None
