"""Thing types: create, describe, list, deprecate (and undo), delete after the five-minute wait."""

from __future__ import annotations

import json
import sqlite3
import uuid
from typing import Any

from rig.cloud.core import arn, events
from rig.cloud.core.errors import (
    InvalidRequestException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
)
from rig.cloud.core.store import Store
from rig.cloud.registry.names import (
    check_name,
    epoch_s,
)

# "You must wait five minutes after you deprecate a thing type before you can delete it."
THING_TYPE_DELETE_WAIT_MS = 5 * 60 * 1000


def usable_type(db: sqlite3.Connection, type_name: str) -> None:
    row = db.execute("SELECT * FROM thing_types WHERE name = ?", (type_name,)).fetchone()
    if row is None:
        raise ResourceNotFoundException(f"Thing type {type_name} cannot be found.")
    if row["deprecated"]:
        raise InvalidRequestException(
            f"Thing type {type_name} is deprecated: new things cannot be associated with it"
        )


def thing_type_row(db: sqlite3.Connection, thing_type_name: str) -> sqlite3.Row:
    row = db.execute("SELECT * FROM thing_types WHERE name = ?", (thing_type_name,)).fetchone()
    if row is None:
        raise ResourceNotFoundException(f"Thing type {thing_type_name} cannot be found.")
    return row


class ThingTypeOperations:
    store: Store

    def create_thing_type(
        self, thing_type_name: str, thing_type_properties: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        check_name("thingTypeName", thing_type_name)
        properties = thing_type_properties or {}
        description = properties.get("thingTypeDescription")
        if description is not None and len(description) > 2028:
            raise InvalidRequestException("thingTypeDescription is longer than 2028 characters")
        searchable = list(properties.get("searchableAttributes", []) or [])
        with self.store.write() as db:
            if db.execute(
                "SELECT 1 FROM thing_types WHERE name = ?", (thing_type_name,)
            ).fetchone():
                raise ResourceAlreadyExistsException(
                    f"Thing type {thing_type_name} already exists"
                )
            type_id = str(uuid.uuid4())
            db.execute(
                "INSERT INTO thing_types (name, type_id, description, searchable_attributes,"
                " created_ms) VALUES (?, ?, ?, ?, ?)",
                (thing_type_name, type_id, description, json.dumps(searchable), events.now_ms()),
            )
            row = db.execute("SELECT * FROM thing_types WHERE name = ?", (thing_type_name,))
            events.thing_type_event(db, "CREATED", row.fetchone())
        return {
            "thingTypeName": thing_type_name,
            "thingTypeArn": arn.thing_type_arn(thing_type_name),
            "thingTypeId": type_id,
        }

    def describe_thing_type(self, thing_type_name: str) -> dict[str, Any]:
        row = (
            self.store.read()
            .execute("SELECT * FROM thing_types WHERE name = ?", (thing_type_name,))
            .fetchone()
        )
        if row is None:
            raise ResourceNotFoundException(f"Thing type {thing_type_name} cannot be found.")
        return self._type_shape(row)

    @staticmethod
    def _type_shape(row: sqlite3.Row) -> dict[str, Any]:
        properties: dict[str, Any] = {
            "searchableAttributes": json.loads(row["searchable_attributes"])
        }
        if row["description"] is not None:
            properties["thingTypeDescription"] = row["description"]
        metadata: dict[str, Any] = {
            "deprecated": bool(row["deprecated"]),
            "creationDate": epoch_s(row["created_ms"]),
        }
        if row["deprecation_ms"] is not None:
            metadata["deprecationDate"] = epoch_s(row["deprecation_ms"])
        return {
            "thingTypeName": row["name"],
            "thingTypeId": row["type_id"],
            "thingTypeArn": arn.thing_type_arn(row["name"]),
            "thingTypeProperties": properties,
            "thingTypeMetadata": metadata,
        }

    def list_thing_types(self) -> dict[str, Any]:
        rows = self.store.read().execute("SELECT * FROM thing_types ORDER BY name").fetchall()
        return {"thingTypes": [self._type_shape(row) for row in rows]}

    def deprecate_thing_type(self, thing_type_name: str, undo: bool = False) -> dict[str, Any]:
        with self.store.write() as db:
            row = thing_type_row(db, thing_type_name)
            db.execute(
                "UPDATE thing_types SET deprecated = ?, deprecation_ms = ? WHERE name = ?",
                (0 if undo else 1, None if undo else events.now_ms(), thing_type_name),
            )
            row = db.execute("SELECT * FROM thing_types WHERE name = ?", (thing_type_name,))
            # the guide lists DEPRECATED but its example says UPDATED: we follow the example
            events.thing_type_event(db, "UPDATED", row.fetchone())
        return {}

    def delete_thing_type(self, thing_type_name: str) -> dict[str, Any]:
        """Only a type deprecated at least five minutes ago and with no things (the guide)."""
        with self.store.write() as db:
            row = thing_type_row(db, thing_type_name)
            if not row["deprecated"]:
                raise InvalidRequestException(
                    f"Thing type {thing_type_name} is not deprecated: deprecate it, then delete"
                    " it five minutes later"
                )
            waited_ms = events.now_ms() - row["deprecation_ms"]
            if waited_ms < THING_TYPE_DELETE_WAIT_MS:
                raise InvalidRequestException(
                    f"Thing type {thing_type_name} was deprecated {waited_ms // 1000} s ago: it"
                    f" can be deleted {THING_TYPE_DELETE_WAIT_MS // 60000} minutes after"
                    " deprecation"
                )
            things = db.execute(
                "SELECT COUNT(*) FROM things WHERE type_name = ?", (thing_type_name,)
            ).fetchone()[0]
            if things:
                raise InvalidRequestException(
                    f"Cannot delete thing type {thing_type_name}: {things} thing(s) are still"
                    " associated with it"
                )
            db.execute("DELETE FROM thing_types WHERE name = ?", (thing_type_name,))
            events.thing_type_event(db, "DELETED", row)
        return {}
