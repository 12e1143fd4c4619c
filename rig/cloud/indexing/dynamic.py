"""Dynamic thing groups' members, kept in step with the things they describe.

Each change that can alter what a query sees of a thing (CreateThing, UpdateThing, a static
group membership, a classic shadow update or delete, a connect or disconnect) calls back here
inside its own write transaction; the thing's document is rebuilt and every dynamic group's
query evaluated on it, so membership is exact when that transaction commits (X-7). The groups'
queries see static group names only (X-6).
"""

from __future__ import annotations

import functools
import sqlite3

from rig.cloud.indexing import query
from rig.cloud.indexing.documents import ThingDocuments
from rig.cloud.indexing.store import IndexingConfiguration
from rig.cloud.registry import Registry


@functools.lru_cache(maxsize=256)
def parsed(query_string: str) -> query.Node:
    """The tree of a stored query (parsed and checked when the group was made)."""
    return query.parse(query_string)


class DynamicGroups:
    def __init__(self, registry: Registry, documents: ThingDocuments) -> None:
        self.registry = registry
        self.documents = documents

    @staticmethod
    def groups(db: sqlite3.Connection) -> list[sqlite3.Row]:
        return db.execute(
            "SELECT * FROM thing_groups WHERE query_string IS NOT NULL ORDER BY name"
        ).fetchall()

    # ---- observers (registered by the Cloud facade)

    def thing_changed(self, db: sqlite3.Connection, thing_name: str) -> None:
        self.refresh_thing(db, thing_name)

    def shadow_changed(self, db: sqlite3.Connection, thing_name: str, shadow_name: str) -> None:
        if not shadow_name:  # the classic shadow is the one indexed
            self.refresh_thing(db, thing_name)

    def membership_changed(
        self, db: sqlite3.Connection, operation: str, group_name: str, thing_name: str
    ) -> None:
        del operation
        row = db.execute(
            "SELECT query_string FROM thing_groups WHERE name = ?", (group_name,)
        ).fetchone()
        if row is not None and row["query_string"] is None:  # a static group's change
            self.refresh_thing(db, thing_name)

    # ---- membership

    def refresh_thing(self, db: sqlite3.Connection, thing_name: str) -> None:
        groups = self.groups(db)
        if not groups:
            return
        configuration = IndexingConfiguration.read(db)
        things = self.documents.build(db, configuration, thing_name, static_groups_only=True)
        if not things:
            return  # a shadow of a thing that is not in the registry
        thing = db.execute("SELECT * FROM things WHERE name = ?", (thing_name,)).fetchone()
        for group in groups:
            member = query.matches(parsed(group["query_string"]), things[0].document)
            self.registry.set_dynamic_membership(db, group, thing, member)

    def populate(self, db: sqlite3.Connection, group_name: str) -> None:
        """Evaluate one group's query on every thing (a new group, a new query, or a new
        indexing configuration)."""
        group = db.execute("SELECT * FROM thing_groups WHERE name = ?", (group_name,)).fetchone()
        node = parsed(group["query_string"])
        configuration = IndexingConfiguration.read(db)
        for indexed in self.documents.build(db, configuration, static_groups_only=True):
            thing = db.execute("SELECT * FROM things WHERE name = ?", (indexed.name,)).fetchone()
            member = query.matches(node, indexed.document)
            self.registry.set_dynamic_membership(db, group, thing, member)

    def populate_all(self, db: sqlite3.Connection) -> None:
        for group in self.groups(db):
            self.populate(db, group["name"])
