"""The index's view of things: one `IndexedThing` per thing, built from the live tables.

Registry rows and memberships are read here (the registry is below the services); the shadows
and presence belong to sibling services, so the `Cloud` facade passes in the functions that
read them (docs/architecture.md, "Why these layers").
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rig.cloud.indexing.query import Document

# (db, thing name or None for all) → thing name → the index's shadow document
ShadowSource = Callable[[sqlite3.Connection, str | None], dict[str, Any]]
# (db, thing name or None for all) → thing name → {"connected": bool, "timestamp": ms}
ConnectivitySource = Callable[[sqlite3.Connection, str | None], dict[str, dict[str, Any]]]


@dataclass
class IndexedThing:
    name: str
    document: Document  # what queries see
    fields: dict[str, Any]  # the SearchIndex ThingDocument, but `shadow` still an object

    @property
    def item(self) -> dict[str, Any]:
        """The SearchIndex ThingDocument, made for the things found only (the shadow's JSON
        text costs more than evaluating a query)."""
        item = dict(self.fields)
        if "shadow" in item:  # the API's `shadow` is a JSON string (JsonDocument)
            shadow = {k: v for k, v in item["shadow"].items() if k != "delta"}
            item["shadow"] = json.dumps(shadow, separators=(",", ":"))
        return item


class ThingDocuments:
    """Builds the documents of all things, or of one, for an indexing configuration."""

    def __init__(self, shadows: ShadowSource, connectivity: ConnectivitySource) -> None:
        self.shadows = shadows
        self.connectivity = connectivity

    def build(
        self,
        db: sqlite3.Connection,
        configuration: dict[str, str],
        thing_name: str | None = None,
        static_groups_only: bool = False,
    ) -> list[IndexedThing]:
        """Things in name order. `static_groups_only`: `thingGroupNames` without dynamic
        groups, as dynamic groups' queries see it (X-6)."""
        where, args = ("WHERE name = ?", (thing_name,)) if thing_name else ("", ())
        rows = db.execute(f"SELECT * FROM things {where} ORDER BY name", args).fetchall()
        if not rows:
            return []
        groups = self._groups(db, thing_name, static_groups_only)
        with_shadow = configuration["thingIndexingMode"] == "REGISTRY_AND_SHADOW"
        shadows = self.shadows(db, thing_name) if with_shadow else {}
        with_connectivity = configuration["thingConnectivityIndexingMode"] == "STATUS"
        connectivity = self.connectivity(db, thing_name) if with_connectivity else {}
        things = []
        for row in rows:
            name = row["name"]
            item: dict[str, Any] = {"thingName": name, "thingId": row["thing_id"]}
            document = Document()
            document.add("thingName", name)
            document.add("thingId", row["thing_id"])
            if row["type_name"]:
                item["thingTypeName"] = row["type_name"]
                document.add("thingTypeName", row["type_name"])
            if groups.get(name):
                item["thingGroupNames"] = groups[name]
                document.add("thingGroupNames", groups[name])
            attributes = json.loads(row["attributes"])
            if attributes:
                item["attributes"] = attributes
                document.add("attributes", attributes)
            shadow = shadows.get(name)
            if shadow is not None:
                item["shadow"] = shadow
                for section, value in shadow.items():  # each flattened when asked for
                    if section != "version":  # not searchable (guide)
                        document.add(f"shadow.{section}", value)
            if with_connectivity:
                state = connectivity.get(name, {"connected": False})
                item["connectivity"] = state
                document.add("connectivity", state)
            things.append(IndexedThing(name, document, item))
        return things

    @staticmethod
    def _groups(
        db: sqlite3.Connection, thing_name: str | None, static_only: bool
    ) -> dict[str, list[str]]:
        sql = (
            "SELECT m.thing_name, m.group_name FROM thing_group_members m"
            " JOIN thing_groups g ON g.name = m.group_name"
        )
        conditions, args = [], []
        if thing_name:
            conditions.append("m.thing_name = ?")
            args.append(thing_name)
        if static_only:
            conditions.append("g.query_string IS NULL")
        if conditions:
            sql += " WHERE " + " AND ".join(conditions)
        groups: dict[str, list[str]] = {}
        for row in db.execute(sql + " ORDER BY m.group_name", args):
            groups.setdefault(row["thing_name"], []).append(row["group_name"])
        return groups
