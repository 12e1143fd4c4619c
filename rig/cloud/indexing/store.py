"""The indexing configuration (component `indexing` of the cloud database).

The index itself is not stored: documents are built from the registry, shadow and presence
tables when a query runs, so it never lags behind them (docs/cloud-decisions.md X-1).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from rig.cloud.core.errors import InvalidRequestException
from rig.cloud.core.store import Store

INDEXING_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS indexing_configuration (
        name TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
)

THING_INDEX = "AWS_Things"
QUERY_VERSION = "2017-09-30"  # the only one (API reference, CreateDynamicThingGroup)
THING_INDEXING_MODES = ("OFF", "REGISTRY", "REGISTRY_AND_SHADOW")
CONNECTIVITY_MODES = ("OFF", "STATUS")
DEFAULTS = {"thingIndexingMode": "OFF", "thingConnectivityIndexingMode": "OFF"}


class IndexingConfiguration:
    """What the `AWS_Things` index holds: registry only, with shadows, with connectivity."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.migrate("indexing", INDEXING_MIGRATIONS)

    @staticmethod
    def read(db: sqlite3.Connection) -> dict[str, str]:
        values = dict(DEFAULTS)
        for row in db.execute("SELECT name, value FROM indexing_configuration"):
            values[row["name"]] = row["value"]
        return values

    def current(self) -> dict[str, str]:
        return self.read(self.store.read())

    def update(self, configuration: dict[str, Any], dynamic_groups: int) -> None:
        """Set the thing indexing configuration (UpdateIndexingConfiguration)."""
        if not isinstance(configuration, dict):
            raise InvalidRequestException("thingIndexingConfiguration must be an object")
        mode = configuration.get("thingIndexingMode")
        if mode not in THING_INDEXING_MODES:
            raise InvalidRequestException(
                f"thingIndexingMode must be one of {', '.join(THING_INDEXING_MODES)}, got {mode!r}"
            )
        connectivity = configuration.get("thingConnectivityIndexingMode", "OFF")
        if connectivity not in CONNECTIVITY_MODES:
            raise InvalidRequestException(
                "thingConnectivityIndexingMode must be one of"
                f" {', '.join(CONNECTIVITY_MODES)}, got {connectivity!r}"
            )
        if mode == "OFF" and connectivity != "OFF":
            raise InvalidRequestException(  # API reference, ThingIndexingConfiguration
                "To enable thing connectivity indexing, thingIndexingMode must not be set to OFF"
            )
        if mode == "OFF" and dynamic_groups:
            raise InvalidRequestException(  # ours, X-9: their members come from the index
                f"Thing indexing cannot be turned off while {dynamic_groups} dynamic thing"
                " group(s) exist: delete them first"
            )
        with self.store.write() as db:
            for name, value in (
                ("thingIndexingMode", mode),
                ("thingConnectivityIndexingMode", connectivity),
            ):
                db.execute(
                    "INSERT INTO indexing_configuration (name, value) VALUES (?, ?)"
                    " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                    (name, value),
                )
