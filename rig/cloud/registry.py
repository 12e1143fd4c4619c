"""Thing registry: things, thing types, thing groups (hierarchy) and thing principals.

Return values have the shapes of the AWS IoT API responses (camelCase keys), so the CLI prints
them unchanged.
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from typing import Any

from rig.cloud.core import arn, events
from rig.cloud.core.errors import (
    InvalidRequestException,
    LimitExceededException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    VersionConflictException,
)
from rig.cloud.core.store import Store

THING_NAME = re.compile(r"[a-zA-Z0-9:_-]{1,128}")
ATTRIBUTE_NAME = re.compile(r"[a-zA-Z0-9_.,@/:#-]{1,128}")
ATTRIBUTE_VALUE = re.compile(r"[a-zA-Z0-9_.,@/:#-]{0,800}")
MAX_ATTRIBUTES_UNTYPED, MAX_ATTRIBUTES_TYPED = 3, 50
MAX_GROUPS_PER_THING, MAX_GROUP_DEPTH = 10, 7
# "You must wait five minutes after you deprecate a thing type before you can delete it."
THING_TYPE_DELETE_WAIT_MS = 5 * 60 * 1000


def check_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not THING_NAME.fullmatch(name):
        raise InvalidRequestException(
            f"{kind} {name!r} is invalid: 1-128 characters from [a-zA-Z0-9:_-]"
        )
    return name


def _attributes(payload: dict[str, Any] | None) -> tuple[dict[str, str], bool]:
    """(attributes, merge) from an attributePayload, validated."""
    if payload is None:
        return {}, False
    if not isinstance(payload, dict):
        raise InvalidRequestException("attributePayload must be an object")
    attributes = payload.get("attributes", {}) or {}
    if not isinstance(attributes, dict):
        raise InvalidRequestException("attributePayload.attributes must be an object")
    for name, value in attributes.items():
        if not ATTRIBUTE_NAME.fullmatch(name):
            raise InvalidRequestException(f"attribute name {name!r} is invalid")
        if not isinstance(value, str) or not ATTRIBUTE_VALUE.fullmatch(value):
            raise InvalidRequestException(f"attribute {name!r} has an invalid value {value!r}")
    return dict(attributes), bool(payload.get("merge", False))


def _epoch(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000.0


def _updated_attributes(stored: str, payload: dict[str, Any] | None) -> dict[str, str]:
    """The attributes after an update (UpdateThing, UpdateThingGroup): kept without a payload,
    replaced by it, or merged into with `merge` (where an empty value removes one)."""
    new_attributes, merge = _attributes(payload)
    attributes = json.loads(stored) if merge or payload is None else {}
    for name, value in new_attributes.items():
        if merge and value == "":  # "To remove an attribute ... an empty value"
            attributes.pop(name, None)
        else:
            attributes[name] = value
    return attributes


def _check_expected_version(what: str, row: sqlite3.Row, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != row["version"]:
        raise VersionConflictException(
            f"expectedVersion {expected_version} but {what} is at version {row['version']}"
        )


def _thing_type_row(db: sqlite3.Connection, thing_type_name: str) -> sqlite3.Row:
    row = db.execute("SELECT * FROM thing_types WHERE name = ?", (thing_type_name,)).fetchone()
    if row is None:
        raise ResourceNotFoundException(f"Thing type {thing_type_name} cannot be found.")
    return row


class Registry:
    """Things, types, groups and the thing↔principal attachments."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # ---- things -------------------------------------------------------------------------

    def _thing(self, db: sqlite3.Connection, name: str) -> sqlite3.Row:
        row = db.execute("SELECT * FROM things WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise ResourceNotFoundException(f"Thing {name} cannot be found.")
        return row

    def _usable_type(self, db: sqlite3.Connection, type_name: str) -> None:
        row = db.execute("SELECT * FROM thing_types WHERE name = ?", (type_name,)).fetchone()
        if row is None:
            raise ResourceNotFoundException(f"Thing type {type_name} cannot be found.")
        if row["deprecated"]:
            raise InvalidRequestException(
                f"Thing type {type_name} is deprecated: new things cannot be associated with it"
            )

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
        attributes, _ = _attributes(attribute_payload)
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
                self._usable_type(db, thing_type_name)
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
        return self._described(self._thing(self.store.read(), thing_name))

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
        return _page(things, "things", max_results, next_token)

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
            row = self._thing(db, thing_name)
            _check_expected_version(f"thing {thing_name}", row, expected_version)
            attributes = _updated_attributes(row["attributes"], attribute_payload)
            type_name = row["type_name"]
            if thing_type_name and thing_type_name != type_name:
                self._usable_type(db, thing_type_name)
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
        return {}

    def delete_thing(self, thing_name: str, expected_version: int | None = None) -> dict[str, Any]:
        with self.store.write() as db:
            row = db.execute("SELECT * FROM things WHERE name = ?", (thing_name,)).fetchone()
            if row is None:
                return {}  # DeleteThing of a missing thing succeeds (AWS API reference)
            _check_expected_version(f"thing {thing_name}", row, expected_version)
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
            events.thing_event(db, "DELETED", row)
            if row["type_name"]:  # the association ends with the thing (guide silent; ours)
                events.type_association_event(db, "REMOVED", row, row["type_name"])
        return {}

    # ---- thing types -------------------------------------------------------------------

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
            "creationDate": _epoch(row["created_ms"]),
        }
        if row["deprecation_ms"] is not None:
            metadata["deprecationDate"] = _epoch(row["deprecation_ms"])
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
            row = _thing_type_row(db, thing_type_name)
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
            row = _thing_type_row(db, thing_type_name)
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

    # ---- thing groups ------------------------------------------------------------------

    def _group(self, db: sqlite3.Connection, name: str) -> sqlite3.Row:
        row = db.execute("SELECT * FROM thing_groups WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise ResourceNotFoundException(f"Thing group {name} cannot be found.")
        return row

    def _ancestors(self, db: sqlite3.Connection, name: str) -> list[sqlite3.Row]:
        """Parent first, root last."""
        chain: list[sqlite3.Row] = []
        row = self._group(db, name)
        while row["parent_name"]:
            row = self._group(db, row["parent_name"])
            chain.append(row)
        return chain

    def create_thing_group(
        self,
        thing_group_name: str,
        parent_group_name: str | None = None,
        thing_group_properties: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        check_name("thingGroupName", thing_group_name)
        properties = thing_group_properties or {}
        attributes, _ = _attributes(properties.get("attributePayload"))
        description = properties.get("thingGroupDescription")
        with self.store.write() as db:
            if db.execute(
                "SELECT 1 FROM thing_groups WHERE name = ?", (thing_group_name,)
            ).fetchone():
                raise ResourceAlreadyExistsException(
                    f"Thing group {thing_group_name} already exists"
                )
            parent = None
            if parent_group_name:
                parent = self._group(db, parent_group_name)
                depth = 1 + len(self._ancestors(db, parent_group_name)) + 1
                if depth > MAX_GROUP_DEPTH:
                    raise LimitExceededException(
                        f"a thing group hierarchy can be at most {MAX_GROUP_DEPTH} deep"
                    )
            group_id = str(uuid.uuid4())
            db.execute(
                "INSERT INTO thing_groups (name, group_id, parent_name, description, attributes,"
                " created_ms) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    thing_group_name,
                    group_id,
                    parent_group_name,
                    description,
                    json.dumps(attributes),
                    events.now_ms(),
                ),
            )
            row = self._group(db, thing_group_name)
            chain = self._root_to_parent(db, thing_group_name)
            events.thing_group_event(db, "CREATED", row, parent, chain)
            if parent is not None:
                events.hierarchy_event(db, "ADDED", parent, row)
        return {
            "thingGroupName": thing_group_name,
            "thingGroupArn": arn.thing_group_arn(thing_group_name),
            "thingGroupId": group_id,
        }

    def _root_to_parent(self, db: sqlite3.Connection, name: str) -> list[dict[str, str]]:
        return [
            {"groupName": row["name"], "groupArn": arn.thing_group_arn(row["name"])}
            for row in reversed(self._ancestors(db, name))
        ]

    def describe_thing_group(self, thing_group_name: str) -> dict[str, Any]:
        db = self.store.read()
        row = self._group(db, thing_group_name)
        metadata: dict[str, Any] = {"creationDate": _epoch(row["created_ms"])}
        if row["parent_name"]:
            metadata["parentGroupName"] = row["parent_name"]
            metadata["rootToParentThingGroups"] = self._root_to_parent(db, thing_group_name)
        properties: dict[str, Any] = {
            "attributePayload": {"attributes": json.loads(row["attributes"])}
        }
        if row["description"] is not None:
            properties["thingGroupDescription"] = row["description"]
        return {
            "thingGroupName": row["name"],
            "thingGroupId": row["group_id"],
            "thingGroupArn": arn.thing_group_arn(row["name"]),
            "version": row["version"],
            "thingGroupProperties": properties,
            "thingGroupMetadata": metadata,
        }

    def list_thing_groups(
        self,
        parent_group: str | None = None,
        name_prefix_filter: str | None = None,
        recursive: bool = False,
    ) -> dict[str, Any]:
        """All groups, or the children of `parent_group` (all its descendants with `recursive`).

        The key is `thingGroups` as in the API reference; the guide's walkthrough shows
        `childGroups` for --parent-group, which no SDK parses (ours: docs/contracts.md)."""
        db = self.store.read()
        if parent_group is None:
            names = [r["name"] for r in db.execute("SELECT name FROM thing_groups")]
        else:
            self._group(db, parent_group)
            names, frontier = [], [parent_group]
            while frontier:
                children = [
                    r["name"]
                    for r in db.execute(
                        f"SELECT name FROM thing_groups WHERE parent_name IN"
                        f" ({','.join('?' * len(frontier))})",
                        frontier,
                    )
                ]
                names.extend(children)
                frontier = children if recursive else []
        if name_prefix_filter:
            names = [name for name in names if name.startswith(name_prefix_filter)]
        return {
            "thingGroups": [
                {"groupName": name, "groupArn": arn.thing_group_arn(name)}
                for name in sorted(names)
            ]
        }

    def update_thing_group(
        self,
        thing_group_name: str,
        thing_group_properties: dict[str, Any],
        expected_version: int | None = None,
    ) -> dict[str, Any]:
        """Description replaced when given; attributes replaced, or merged with `merge` (an
        empty value then removes one), as UpdateThing does."""
        if not isinstance(thing_group_properties, dict):
            raise InvalidRequestException("thingGroupProperties must be an object")
        description = thing_group_properties.get("thingGroupDescription")
        if description is not None and (
            not isinstance(description, str) or len(description) > 2028
        ):
            raise InvalidRequestException("thingGroupDescription must be at most 2028 characters")
        payload = thing_group_properties.get("attributePayload")
        _attributes(payload)  # refuse a bad payload before any database work
        with self.store.write() as db:
            row = self._group(db, thing_group_name)
            _check_expected_version(f"thing group {thing_group_name}", row, expected_version)
            attributes = _updated_attributes(row["attributes"], payload)
            version = row["version"] + 1
            db.execute(
                "UPDATE thing_groups SET description = ?, attributes = ?, version = ?"
                " WHERE name = ?",
                (
                    description if description is not None else row["description"],
                    json.dumps(attributes),
                    version,
                    thing_group_name,
                ),
            )
            updated = self._group(db, thing_group_name)
            parent = self._group(db, row["parent_name"]) if row["parent_name"] else None
            chain = self._root_to_parent(db, thing_group_name)
            events.thing_group_event(db, "UPDATED", updated, parent, chain)
        return {"version": version}

    def delete_thing_group(
        self, thing_group_name: str, expected_version: int | None = None
    ) -> dict[str, Any]:
        """A group with child groups cannot go; its things leave it (membership events) and
        the policies attached to it are detached, so nothing inherits them any more."""
        with self.store.write() as db:
            row = db.execute(
                "SELECT * FROM thing_groups WHERE name = ?", (thing_group_name,)
            ).fetchone()
            if row is None:
                return {}  # the API reference lists no ResourceNotFoundException for it
            _check_expected_version(f"thing group {thing_group_name}", row, expected_version)
            if db.execute(
                "SELECT 1 FROM thing_groups WHERE parent_name = ?", (thing_group_name,)
            ).fetchone():
                raise InvalidRequestException(  # the guide's message, verbatim
                    f"Cannot delete thing group : {thing_group_name} when there are still child"
                    " groups attached to it."
                )
            parent = self._group(db, row["parent_name"]) if row["parent_name"] else None
            chain = self._root_to_parent(db, thing_group_name)
            group_arn = arn.thing_group_arn(thing_group_name)
            members = db.execute(
                "SELECT m.membership_id, t.* FROM thing_group_members m"
                " JOIN things t ON t.name = m.thing_name WHERE m.group_name = ?"
                " ORDER BY t.name",
                (thing_group_name,),
            ).fetchall()
            for member in members:
                events.membership_event(
                    db,
                    "REMOVED",
                    row,
                    group_arn,
                    member,
                    arn.thing_arn(member["name"]),
                    member["membership_id"],
                )
            db.execute("DELETE FROM thing_group_members WHERE group_name = ?", (thing_group_name,))
            for target in db.execute("SELECT DISTINCT target FROM policy_targets").fetchall():
                if arn.resource_name(target["target"], "thinggroup") == thing_group_name:
                    db.execute("DELETE FROM policy_targets WHERE target = ?", (target["target"],))
            db.execute("DELETE FROM thing_groups WHERE name = ?", (thing_group_name,))
            if parent is not None:
                events.hierarchy_event(db, "REMOVED", parent, row)
            events.thing_group_event(db, "DELETED", row, parent, chain)
            self.store.bump(db, "auth_generation")  # group policies no longer apply
        return {}

    def add_thing_to_thing_group(
        self,
        thing_group_name: str | None = None,
        thing_name: str | None = None,
        thing_group_arn: str | None = None,
        thing_arn: str | None = None,
    ) -> dict[str, Any]:
        group_name = thing_group_name or (
            arn.resource_name(thing_group_arn, "thinggroup") if thing_group_arn else None
        )
        name = thing_name or (arn.resource_name(thing_arn, "thing") if thing_arn else None)
        if not group_name or not name:
            raise InvalidRequestException("a thing group and a thing must be given")
        with self.store.write() as db:
            group = self._group(db, group_name)
            thing = self._thing(db, name)
            current = [
                r["group_name"]
                for r in db.execute(
                    "SELECT group_name FROM thing_group_members WHERE thing_name = ?", (name,)
                )
            ]
            if group_name in current:
                return {}
            if len(current) >= MAX_GROUPS_PER_THING:
                raise LimitExceededException(
                    f"thing {name} is already in {len(current)} groups (at most"
                    f" {MAX_GROUPS_PER_THING})"
                )
            root = self._root_of(db, group_name)
            for other in current:
                if self._root_of(db, other) == root:
                    raise InvalidRequestException(
                        f"thing {name} is already in group {other} of the same hierarchy"
                        f" (root {root})"
                    )
            membership_id = str(uuid.uuid4())
            db.execute(
                "INSERT INTO thing_group_members (group_name, thing_name, membership_id)"
                " VALUES (?, ?, ?)",
                (group_name, name, membership_id),
            )
            events.membership_event(
                db,
                "ADDED",
                group,
                arn.thing_group_arn(group_name),
                thing,
                arn.thing_arn(name),
                membership_id,
            )
            self.store.bump(db, "auth_generation")  # group policies now apply to the thing
        return {}

    def remove_thing_from_thing_group(
        self, thing_group_name: str, thing_name: str
    ) -> dict[str, Any]:
        with self.store.write() as db:
            group = self._group(db, thing_group_name)
            thing = self._thing(db, thing_name)
            row = db.execute(
                "SELECT membership_id FROM thing_group_members"
                " WHERE group_name = ? AND thing_name = ?",
                (thing_group_name, thing_name),
            ).fetchone()
            if row is None:
                return {}
            db.execute(
                "DELETE FROM thing_group_members WHERE group_name = ? AND thing_name = ?",
                (thing_group_name, thing_name),
            )
            events.membership_event(
                db,
                "REMOVED",
                group,
                arn.thing_group_arn(thing_group_name),
                thing,
                arn.thing_arn(thing_name),
                row["membership_id"],
            )
            self.store.bump(db, "auth_generation")
        return {}

    def _root_of(self, db: sqlite3.Connection, group_name: str) -> str:
        chain = self._ancestors(db, group_name)
        return chain[-1]["name"] if chain else group_name

    def groups_of_thing(self, thing_name: str) -> list[str]:
        """Every group the thing is in, with all their ancestors (for policy inheritance)."""
        db = self.store.read()
        names: list[str] = []
        for row in db.execute(
            "SELECT group_name FROM thing_group_members WHERE thing_name = ? ORDER BY group_name",
            (thing_name,),
        ).fetchall():
            names.append(row["group_name"])
            names.extend(ancestor["name"] for ancestor in self._ancestors(db, row["group_name"]))
        return names

    def list_thing_groups_for_thing(self, thing_name: str) -> dict[str, Any]:
        self._thing(self.store.read(), thing_name)
        return {
            "thingGroups": [
                {"groupName": name, "groupArn": arn.thing_group_arn(name)}
                for name in self.groups_of_thing(thing_name)
            ]
        }

    def list_things_in_thing_group(
        self, thing_group_name: str, recursive: bool = False
    ) -> dict[str, Any]:
        db = self.store.read()
        self._group(db, thing_group_name)
        groups = [thing_group_name]
        if recursive:
            frontier = [thing_group_name]
            while frontier:
                children = [
                    r["name"]
                    for r in db.execute(
                        "SELECT name FROM thing_groups WHERE parent_name = ?", (frontier.pop(),)
                    )
                ]
                groups += children
                frontier += children
        things: set[str] = set()
        for group in groups:
            things.update(
                r["thing_name"]
                for r in db.execute(
                    "SELECT thing_name FROM thing_group_members WHERE group_name = ?", (group,)
                )
            )
        return {"things": sorted(things)}

    # ---- thing principals --------------------------------------------------------------

    def attach_thing_principal(self, thing_name: str, principal: str) -> dict[str, Any]:
        certificate_id = arn.resource_name(principal, "cert")
        with self.store.write() as db:
            self._thing(db, thing_name)
            if (
                certificate_id is None
                or not db.execute(
                    "SELECT 1 FROM certificates WHERE certificate_id = ?", (certificate_id,)
                ).fetchone()
            ):
                raise ResourceNotFoundException(f"Principal {principal} cannot be found.")
            db.execute(
                "INSERT OR IGNORE INTO thing_principals (thing_name, principal) VALUES (?, ?)",
                (thing_name, principal),
            )
            self.store.bump(db, "auth_generation")
        return {}

    def detach_thing_principal(self, thing_name: str, principal: str) -> dict[str, Any]:
        with self.store.write() as db:
            self._thing(db, thing_name)
            db.execute(
                "DELETE FROM thing_principals WHERE thing_name = ? AND principal = ?",
                (thing_name, principal),
            )
            self.store.bump(db, "auth_generation")
        return {}

    def list_thing_principals(self, thing_name: str) -> dict[str, Any]:
        db = self.store.read()
        self._thing(db, thing_name)
        rows = db.execute(
            "SELECT principal FROM thing_principals WHERE thing_name = ? ORDER BY principal",
            (thing_name,),
        )
        return {"principals": [r["principal"] for r in rows.fetchall()]}

    def things_of_principal(self, principal: str) -> list[str]:
        rows = self.store.read().execute(
            "SELECT thing_name FROM thing_principals WHERE principal = ? ORDER BY thing_name",
            (principal,),
        )
        return [r["thing_name"] for r in rows.fetchall()]


def _page(
    items: list[dict[str, Any]], key: str, max_results: int | None, next_token: str | None
) -> dict[str, Any]:
    """Offset-based pagination with an opaque-enough token."""
    start = 0
    if next_token:
        try:
            start = int(next_token)
        except ValueError as exc:
            raise InvalidRequestException(f"invalid nextToken {next_token!r}") from exc
    end = len(items) if max_results is None else start + max_results
    page: dict[str, Any] = {key: items[start:end]}
    if end < len(items):
        page["nextToken"] = str(end)
    return page
