"""The 1-Click tables of the cloud database (component `oneclick`) and the reads both APIs share.

A device has a row from its first claim step on; before that it is UNCLAIMED (C-2). Events are
kept per click (one per eventId) for every 1-Click device id, claimed or not: the wear they count
is physical (C-5); a claim shows only the events recorded after it began (`claim_after_seq`, C-6).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from rig.cloud.core.errors import InvalidRequestException, ResourceNotFoundException
from rig.cloud.core.store import Store
from rig.cloud.oneclick.engine import CLAIMED, UNCLAIMED

ONECLICK_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE oneclick_devices (
        device_id TEXT PRIMARY KEY, state TEXT NOT NULL, claim_started_ms INTEGER NOT NULL,
        enabled INTEGER NOT NULL DEFAULT 0, tags TEXT NOT NULL DEFAULT '{}',
        on_click TEXT, health TEXT);
    CREATE TABLE oneclick_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, device_id TEXT NOT NULL,
        event_id TEXT NOT NULL UNIQUE, click_type TEXT NOT NULL, reported_time TEXT NOT NULL,
        reported_ms INTEGER NOT NULL, received_ms INTEGER NOT NULL, certificate_id TEXT NOT NULL,
        remaining_life REAL NOT NULL);
    CREATE INDEX oneclick_events_by_device ON oneclick_events (device_id, seq);
    CREATE TABLE oneclick_claim_codes (
        claim_code TEXT NOT NULL, device_id TEXT NOT NULL PRIMARY KEY);
    CREATE TABLE oneclick_projects (
        name TEXT PRIMARY KEY, description TEXT NOT NULL, default_attributes TEXT NOT NULL,
        device_templates TEXT NOT NULL, tags TEXT NOT NULL,
        created_s INTEGER NOT NULL, updated_s INTEGER NOT NULL, seq INTEGER NOT NULL);
    CREATE TABLE oneclick_placements (
        project TEXT NOT NULL REFERENCES oneclick_projects (name), name TEXT NOT NULL,
        attributes TEXT NOT NULL, created_s INTEGER NOT NULL, updated_s INTEGER NOT NULL,
        seq INTEGER NOT NULL, PRIMARY KEY (project, name));
    CREATE TABLE oneclick_associations (
        project TEXT NOT NULL, placement TEXT NOT NULL, template TEXT NOT NULL,
        device_id TEXT NOT NULL UNIQUE, PRIMARY KEY (project, placement, template),
        FOREIGN KEY (project, placement) REFERENCES oneclick_placements (project, name));
    """,
    # C-2: a claim's events are those recorded after its start in the database's own order (the
    # events' seq), not by the host's millisecond clock, where a press just before an initiate
    # could share its millisecond. Claims begun before this migration: by their old time bound.
    """
    ALTER TABLE oneclick_devices ADD COLUMN claim_after_seq INTEGER NOT NULL DEFAULT 0;
    UPDATE oneclick_devices SET claim_after_seq = (
        SELECT COALESCE(MAX(seq), 0) FROM oneclick_events
        WHERE oneclick_events.device_id = oneclick_devices.device_id
        AND oneclick_events.received_ms < oneclick_devices.claim_started_ms);
    """,
)


def loads(text: str) -> Any:
    return json.loads(text)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class OneClickStore:
    """The tables, migrated on first use, and the lookups devices and projects both need."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.migrate("oneclick", ONECLICK_MIGRATIONS)

    def device_row(self, db: sqlite3.Connection, device_id: str) -> sqlite3.Row | None:
        return db.execute(
            "SELECT * FROM oneclick_devices WHERE device_id = ?", (device_id,)
        ).fetchone()

    def state(self, db: sqlite3.Connection, device_id: str) -> str:
        row = self.device_row(db, device_id)
        return UNCLAIMED if row is None else str(row["state"])

    def claimed_row(self, db: sqlite3.Connection, device_id: str) -> sqlite3.Row:
        """The device's row when this account has claimed it; ResourceNotFoundException else
        (an unclaimed device is not in the account, as for AWS)."""
        row = self.device_row(db, device_id)
        if row is None or row["state"] != CLAIMED:
            raise ResourceNotFoundException(f"device {device_id} is not claimed by this account")
        return row

    def association(self, db: sqlite3.Connection, device_id: str) -> sqlite3.Row | None:
        return db.execute(
            "SELECT * FROM oneclick_associations WHERE device_id = ?", (device_id,)
        ).fetchone()

    def device_attributes(
        self, db: sqlite3.Connection, device_id: str, region: str
    ) -> dict[str, str]:
        """describe-device's Attributes: the four association keys of the CLI page once placed,
        {} otherwise (C-10)."""
        placed = self.association(db, device_id)
        if placed is None:
            return {}
        return {
            "projectRegion": region,
            "projectName": placed["project"],
            "placementName": placed["placement"],
            "deviceTemplateName": placed["template"],
        }

    def last_event_seq(self, db: sqlite3.Connection) -> int:
        """Where a claim starting now begins: events with a larger seq are recorded after it
        (seq is AUTOINCREMENT, assigned under the write lock, never reused)."""
        return int(db.execute("SELECT COALESCE(MAX(seq), 0) FROM oneclick_events").fetchone()[0])

    def click_count(self, db: sqlite3.Connection, device_id: str) -> int:
        return int(
            db.execute(
                "SELECT COUNT(*) FROM oneclick_events WHERE device_id = ?", (device_id,)
            ).fetchone()[0]
        )

    def devices_in_placement(
        self, db: sqlite3.Connection, project: str, placement: str
    ) -> dict[str, str]:
        rows = db.execute(
            "SELECT template, device_id FROM oneclick_associations"
            " WHERE project = ? AND placement = ? ORDER BY template",
            (project, placement),
        ).fetchall()
        return {row["template"]: row["device_id"] for row in rows}


def paged(
    rows: list[sqlite3.Row],
    max_results: int | None,
    next_token: str | None,
    names: tuple[str, str],
) -> tuple[list[sqlite3.Row], str | None]:
    """One page of `rows` and the token of the next: an offset, our form of the opaque token.
    `names`: the API's members for the messages (MaxResults/NextToken or lowerCamel)."""
    size = 100 if max_results is None else max_results  # botocore: "a default value of 100"
    if not 1 <= size <= 250:
        raise InvalidRequestException(f"{names[0]}: 1-250")
    try:
        offset = int(next_token) if next_token else 0
        if offset < 0:
            raise ValueError(next_token)
    except ValueError:
        raise InvalidRequestException(f"{names[1]} {next_token!r} is not valid") from None
    return rows[offset : offset + size], str(offset + size) if offset + size < len(rows) else None
