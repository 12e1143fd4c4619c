"""Thing groups: the hierarchy (at most seven deep), membership (at most ten groups per thing)
and the lookups the policy compiler and fleet operations use."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable
from typing import Any

from rig.cloud.core import arn, events
from rig.cloud.core.errors import (
    InvalidRequestException,
    LimitExceededException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
)
from rig.cloud.core.store import Store
from rig.cloud.registry.names import (
    MAX_GROUP_DEPTH,
    MAX_GROUPS_PER_THING,
    check_expected_version,
    check_name,
    epoch_s,
    parse_attributes,
    updated_attributes,
)
from rig.cloud.registry.things import thing_row

# Called inside the registry's write transaction when a thing joins ("ADDED") or leaves
# ("REMOVED") a group, with (db, operation, group name, thing name): a service above the
# registry (jobs: continuous targets) keeps its own tables in step in the same transaction,
# without the registry importing it. The `Cloud` facade registers them.
MembershipObserver = Callable[[sqlite3.Connection, str, str, str], None]


# A dynamic group's (index name, query string, query version).
DynamicQuery = tuple[str, str, str]


def _refuse_dynamic(group: sqlite3.Row) -> None:
    if group["query_string"] is not None:  # guide, "Dynamic thing groups"
        raise InvalidRequestException(
            f"Thing group {group['name']} is a dynamic thing group: its members follow its query"
            " and cannot be added or removed by hand"
        )


class ThingGroupOperations:
    store: Store
    membership_observers: list[MembershipObserver]

    def _membership_changed(
        self, db: sqlite3.Connection, operation: str, group_name: str, thing_name: str
    ) -> None:
        for observer in self.membership_observers:
            observer(db, operation, group_name, thing_name)

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
        dynamic: DynamicQuery | None = None,
    ) -> dict[str, Any]:
        """A static group; with `dynamic`, a dynamic one (rig/cloud/indexing keeps its
        members), which has no parent and is no parent (guide, "Dynamic thing groups")."""
        check_name("thingGroupName", thing_group_name)
        if dynamic is not None and parent_group_name:
            raise InvalidRequestException("Dynamic thing groups can't be part of a hierarchy")
        properties = thing_group_properties or {}
        attributes, _ = parse_attributes(properties.get("attributePayload"))
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
                if parent["query_string"] is not None:
                    raise InvalidRequestException(
                        f"Thing group {parent_group_name} is a dynamic thing group: dynamic"
                        " thing groups can't be part of a hierarchy"
                    )
                depth = 1 + len(self._ancestors(db, parent_group_name)) + 1
                if depth > MAX_GROUP_DEPTH:
                    raise LimitExceededException(
                        f"a thing group hierarchy can be at most {MAX_GROUP_DEPTH} deep"
                    )
            group_id = str(uuid.uuid4())
            db.execute(
                "INSERT INTO thing_groups (name, group_id, parent_name, description, attributes,"
                " created_ms, index_name, query_string, query_version)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    thing_group_name,
                    group_id,
                    parent_group_name,
                    description,
                    json.dumps(attributes),
                    events.now_ms(),
                    *(dynamic or (None, None, None)),
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
        metadata: dict[str, Any] = {"creationDate": epoch_s(row["created_ms"])}
        if row["parent_name"]:
            metadata["parentGroupName"] = row["parent_name"]
            metadata["rootToParentThingGroups"] = self._root_to_parent(db, thing_group_name)
        properties: dict[str, Any] = {
            "attributePayload": {"attributes": json.loads(row["attributes"])}
        }
        if row["description"] is not None:
            properties["thingGroupDescription"] = row["description"]
        described = {
            "thingGroupName": row["name"],
            "thingGroupId": row["group_id"],
            "thingGroupArn": arn.thing_group_arn(row["name"]),
            "version": row["version"],
            "thingGroupProperties": properties,
            "thingGroupMetadata": metadata,
        }
        if row["query_string"] is not None:  # DescribeThingGroup's dynamic-group members
            described |= {
                "indexName": row["index_name"],
                "queryString": row["query_string"],
                "queryVersion": row["query_version"],
                "status": "ACTIVE",  # membership is kept in step at once
            }
        return described

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
        parse_attributes(payload)  # refuse a bad payload before any database work
        with self.store.write() as db:
            row = self._group(db, thing_group_name)
            check_expected_version(f"thing group {thing_group_name}", row, expected_version)
            attributes = updated_attributes(row["attributes"], payload)
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
        self, thing_group_name: str, expected_version: int | None = None, dynamic: bool = False
    ) -> dict[str, Any]:
        """A group with child groups cannot go; its things leave it (membership events) and
        the policies attached to it are detached, so nothing inherits them any more.
        `dynamic`: DeleteDynamicThingGroup, which deletes only dynamic groups, as
        DeleteThingGroup deletes only static ones (X-8)."""
        with self.store.write() as db:
            row = db.execute(
                "SELECT * FROM thing_groups WHERE name = ?", (thing_group_name,)
            ).fetchone()
            if row is None:
                return {}  # the API reference lists no ResourceNotFoundException for it
            if (row["query_string"] is not None) != dynamic:
                kind = "static" if dynamic else "dynamic"
                other = "delete-thing-group" if dynamic else "delete-dynamic-thing-group"
                raise InvalidRequestException(
                    f"Thing group {thing_group_name} is a {kind} thing group: use {other}"
                )
            check_expected_version(f"thing group {thing_group_name}", row, expected_version)
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
            for member in members:
                self._membership_changed(db, "REMOVED", thing_group_name, member["name"])
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
            _refuse_dynamic(group)
            thing = thing_row(db, name)
            current = [  # the static groups: the limit of ten is theirs here
                r["group_name"]
                for r in db.execute(
                    "SELECT m.group_name FROM thing_group_members m"
                    " JOIN thing_groups g ON g.name = m.group_name"
                    " WHERE m.thing_name = ? AND g.query_string IS NULL",
                    (name,),
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
            self._membership_changed(db, "ADDED", group_name, name)
            self.store.bump(db, "auth_generation")  # group policies now apply to the thing
        return {}

    def remove_thing_from_thing_group(
        self, thing_group_name: str, thing_name: str
    ) -> dict[str, Any]:
        with self.store.write() as db:
            group = self._group(db, thing_group_name)
            _refuse_dynamic(group)
            thing = thing_row(db, thing_name)
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
            self._membership_changed(db, "REMOVED", thing_group_name, thing_name)
            self.store.bump(db, "auth_generation")
        return {}

    def set_dynamic_membership(
        self, db: sqlite3.Connection, group: sqlite3.Row, thing: sqlite3.Row, member: bool
    ) -> None:
        """Put a thing in or out of a dynamic group, inside the caller's transaction: the
        indexing service's decision, with the membership events and observers (jobs:
        continuous targets) of a static change. No auth change: such groups hold no policy."""
        row = db.execute(
            "SELECT membership_id FROM thing_group_members WHERE group_name = ? AND thing_name = ?",
            (group["name"], thing["name"]),
        ).fetchone()
        if member == (row is not None):
            return
        group_arn, thing_arn = arn.thing_group_arn(group["name"]), arn.thing_arn(thing["name"])
        if member:
            membership_id = str(uuid.uuid4())
            db.execute(
                "INSERT INTO thing_group_members (group_name, thing_name, membership_id)"
                " VALUES (?, ?, ?)",
                (group["name"], thing["name"], membership_id),
            )
            events.membership_event(db, "ADDED", group, group_arn, thing, thing_arn, membership_id)
            self._membership_changed(db, "ADDED", group["name"], thing["name"])
            return
        db.execute(
            "DELETE FROM thing_group_members WHERE group_name = ? AND thing_name = ?",
            (group["name"], thing["name"]),
        )
        events.membership_event(
            db, "REMOVED", group, group_arn, thing, thing_arn, row["membership_id"]
        )
        self._membership_changed(db, "REMOVED", group["name"], thing["name"])

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
        thing_row(self.store.read(), thing_name)
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
