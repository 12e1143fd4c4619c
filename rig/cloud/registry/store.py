"""The registry's tables (component `registry` of the cloud database, rig/cloud/core/store.py).

`IF NOT EXISTS`: a database made before the components were split holds these tables under the
`core` component already; there the first migration finds them and records version 1.
"""

from __future__ import annotations

REGISTRY_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS things (
        name TEXT PRIMARY KEY, thing_id TEXT NOT NULL, type_name TEXT,
        attributes TEXT NOT NULL DEFAULT '{}', version INTEGER NOT NULL DEFAULT 1,
        created_ms INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS thing_types (
        name TEXT PRIMARY KEY, type_id TEXT NOT NULL, description TEXT,
        searchable_attributes TEXT NOT NULL DEFAULT '[]', deprecated INTEGER NOT NULL DEFAULT 0,
        deprecation_ms INTEGER, created_ms INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS thing_groups (
        name TEXT PRIMARY KEY, group_id TEXT NOT NULL, parent_name TEXT REFERENCES thing_groups,
        description TEXT, attributes TEXT NOT NULL DEFAULT '{}',
        version INTEGER NOT NULL DEFAULT 1, created_ms INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS thing_group_members (
        group_name TEXT NOT NULL, thing_name TEXT NOT NULL, membership_id TEXT NOT NULL,
        PRIMARY KEY (group_name, thing_name));
    CREATE TABLE IF NOT EXISTS thing_principals (
        thing_name TEXT NOT NULL, principal TEXT NOT NULL, PRIMARY KEY (thing_name, principal));
    """,
    # Dynamic thing groups (rig/cloud/indexing): a group with a query string; the indexing
    # service keeps its members, nobody adds or removes them by hand.
    """
    ALTER TABLE thing_groups ADD COLUMN query_string TEXT;
    ALTER TABLE thing_groups ADD COLUMN query_version TEXT;
    ALTER TABLE thing_groups ADD COLUMN index_name TEXT;
    """,
)
