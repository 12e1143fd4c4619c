"""Things: create, describe, list, update, delete (AWS IoT API shapes, camelCase keys)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable
from typing import Any

from rig.cloud.core import arn, events
from rig.cloud.core.errors import (
    InvalidRequestException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
)
from rig.cloud.core.store import Store
from rig.cloud.registry.names import (
    MAX_ATTRIBUTES_TYPED,
    MAX_ATTRIBUTES_UNTYPED,
    check_expected_version,
    check_name,
    page,
    parse_attributes,
    updated_attributes,
)
from rig.cloud.registry.thing_types import usable_type


def thing_row(db: sqlite3.Connection, name: str) -> sqlite3.Row:
    row = db.execute("SELECT * FROM things WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise ResourceNotFoundException(f"Thing {name} cannot be found.")
    return row


# Called inside DeleteThing's transaction, after the thing and its memberships are gone, with
# (db, thing name): a service above the registry (jobs: its executions become REMOVED) keeps
# its tables in step. The `Cloud` facade registers them.
ThingDeletionObserver = Callable[[sqlite3.Connection, str], None]

# Called inside CreateThing's and UpdateThing's transaction with (db, thing name), after the
# change: the indexing service re-evaluates the dynamic groups of the thing.
ThingChangeObserver = Callable[[sqlite3.Connection, str], None]


class ThingOperations:
    store: Store
    thing_deletion_observers: list[ThingDeletionObserver]
    thing_change_observers: list[ThingChangeObserver]

    @staticmethod
    def _check_attribute_count(attributes: dict[str, str], type_name: str | None) -> None:
        limit = MAX_ATTRIBUTES_TYPED if type_name else MAX_ATTRIBUTES_UNTYPED
        if len(attributes) > limit:
            raise InvalidRequestException(
                f"{len(attributes)} attributes given; a thing {'with' if type_name else 'without'}"
                f" a thing type can have at most {limit}"
            )

    def create_thing(
        self,
        thing_name: str,
        thing_type_name: str | None = None,
        attribute_payload: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        check_name("thingName", thing_name)
        attributes, _ = parse_attributes(attribute_payload)
        self._check_attribute_count(attributes, thing_type_name)
        with self.store.write() as db:
            existing = db.execute("SELECT * FROM things WHERE name = ?", (thing_name,)).fetchone()
            if existing is not None:
                same = existing["type_name"] == thing_type_name and (
                    json.loads(existing["attributes"]) == attributes
                )
                if not same:  # AWS: same name and configuration succeeds, else conflict
                    raise ResourceAlreadyExistsException(
                        f"Thing {thing_name} already exists with a different configuration"
                    )
                return self._created(existing)
            if thing_type_name:
                usable_type(db, thing_type_name)
            row = {
                "name": thing_name,
                "thing_id": str(uuid.uuid4()),
                "type_name": thing_type_name,
                "attributes": json.dumps(attributes),
                "version": 1,
            }
            db.execute(
                "INSERT INTO things (name, thing_id, type_name, attributes, version, created_ms)"
                " VALUES (:name, :thing_id, :type_name, :attributes, :version, :created)",
                row | {"created": events.now_ms()},
            )
            events.thing_event(db, "CREATED", row)
            if thing_type_name:
                events.type_association_event(db, "ADDED", row, thing_type_name)
            for observer in self.thing_change_observers:
                observer(db, thing_name)
            return self._created(row)

    @staticmethod
    def _created(row: sqlite3.Row | dict[str, Any]) -> dict[str, Any]:
        return {
            "thingName": row["name"],
            "thingArn": arn.thing_arn(row["name"]),
            "thingId": row["thing_id"],
        }

    @staticmethod
    def _described(row: sqlite3.Row) -> dict[str, Any]:
        described: dict[str, Any] = {
            "defaultClientId": row["name"],
            "thingName": row["name"],
            "thingId": row["thing_id"],
            "thingArn": arn.thing_arn(row["name"]),
        }
        if row["type_name"]:
            described["thingTypeName"] = row["type_name"]
        described["attributes"] = json.loads(row["attributes"])
        described["version"] = row["version"]
        return described

    def describe_thing(self, thing_name: str) -> dict[str, Any]:
        return self._described(thing_row(self.store.read(), thing_name))

    def thing_exists(self, thing_name: str) -> bool:
        row = self.store.read().execute("SELECT 1 FROM things WHERE name = ?", (thing_name,))
        return row.fetchone() is not None

    def list_things(
        self,
        attribute_name: str | None = None,
        attribute_value: str | None = None,
        thing_type_name: str | None = None,
        max_results: int | None = None,
        next_token: str | None = None,
    ) -> dict[str, Any]:
        if max_results is not None and not 1 <= max_results <= 250:
            raise InvalidRequestException(f"maxResults must be 1..250, got {max_results}")
        rows = self.store.read().execute("SELECT * FROM things ORDER BY name").fetchall()
        things = []
        for row in rows:
            attributes = json.loads(row["attributes"])
            if thing_type_name and row["type_name"] != thing_type_name:
                continue
            if attribute_name and attribute_name not in attributes:
                continue
            if attribute_name and attribute_value is not None:
                if attributes.get(attribute_name) != attribute_value:
                    continue
            item: dict[str, Any] = {"thingName": row["name"]}
            if row["type_name"]:
                item["thingTypeName"] = row["type_name"]
            item |= {
                "thingArn": arn.thing_arn(row["name"]),
                "attributes": attributes,
                "version": row["version"],
            }
            things.append(item)
        return page(things, "things", max_results, next_token)

    def update_thing(
        self,
        thing_name: str,
        thing_type_name: str | None = None,
        attribute_payload: dict[str, Any] | None = None,
        expected_version: int | None = None,
        remove_thing_type: bool = False,
    ) -> dict[str, Any]:
        if remove_thing_type and thing_type_name:
            raise InvalidRequestException("removeThingType and thingTypeName are exclusive")
        with self.store.write() as db:
            row = thing_row(db, thing_name)
            check_expected_version(f"thing {thing_name}", row, expected_version)
            attributes = updated_attributes(row["attributes"], attribute_payload)
            type_name = row["type_name"]
            if thing_type_name and thing_type_name != type_name:
                usable_type(db, thing_type_name)
                type_name = thing_type_name
            if remove_thing_type:
                type_name = None
            self._check_attribute_count(attributes, type_name)
            updated = dict(row) | {
                "type_name": type_name,
                "attributes": json.dumps(attributes),
                "version": row["version"] + 1,
            }
            db.execute(
                "UPDATE things SET type_name = ?, attributes = ?, version = ? WHERE name = ?",
                (type_name, updated["attributes"], updated["version"], thing_name),
            )
            events.thing_event(db, "UPDATED", updated)
            if type_name != row["type_name"]:
                if row["type_name"]:
                    events.type_association_event(db, "REMOVED", row, row["type_name"])
                if type_name:
                    events.type_association_event(db, "ADDED", row, type_name)
            # policies may use iot:Connection.Thing.Attributes[...] / ThingTypeName
            self.store.bump(db, "auth_generation")
            for observer in self.thing_change_observers:
                observer(db, thing_name)
        return {}

    def delete_thing(self, thing_name: str, expected_version: int | None = None) -> dict[str, Any]:
        with self.store.write() as db:
            row = db.execute("SELECT * FROM things WHERE name = ?", (thing_name,)).fetchone()
            if row is None:
                return {}  # DeleteThing of a missing thing succeeds (AWS API reference)
            check_expected_version(f"thing {thing_name}", row, expected_version)
            principals = db.execute(
                "SELECT principal FROM thing_principals WHERE thing_name = ?", (thing_name,)
            ).fetchall()
            if principals:
                raise InvalidRequestException(
                    f"Cannot delete thing {thing_name}: {len(principals)} principal(s) still"
                    " attached; detach them first"
                )
            db.execute("DELETE FROM thing_group_members WHERE thing_name = ?", (thing_name,))
            db.execute("DELETE FROM things WHERE name = ?", (thing_name,))
            for observer in self.thing_deletion_observers:
                observer(db, thing_name)
            events.thing_event(db, "DELETED", row)
            if row["type_name"]:  # the association ends with the thing (guide silent; ours)
                events.type_association_event(db, "REMOVED", row, row["type_name"])
        return {}
