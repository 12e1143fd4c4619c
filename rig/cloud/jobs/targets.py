"""Job targets: thing and thing-group ARNs of this account, resolved to thing names.

A group stands for its things and those of its child groups (guide "What Is AWS IoT": "Any
action you perform on a parent group will apply to its child groups"; for jobs the guide is
silent: ours). Things come in target order, each once (guide "Create Jobs": "A job is sent to and
executed on targets in the order they appear in the --targets list")."""

from __future__ import annotations

import sqlite3

from rig.cloud.core import arn
from rig.cloud.core.errors import InvalidRequestException, ResourceNotFoundException


def group_and_descendants(db: sqlite3.Connection, group: str) -> list[str]:
    groups, frontier = [group], [group]
    while frontier:
        children = [
            r["name"]
            for r in db.execute(
                "SELECT name FROM thing_groups WHERE parent_name = ? ORDER BY name",
                (frontier.pop(0),),
            )
        ]
        groups += children
        frontier += children
    return groups


def resolve(db: sqlite3.Connection, targets: list[str]) -> list[str]:
    """The things of the targets, in target order, each once."""
    things: dict[str, None] = {}
    for target in targets:
        if not isinstance(target, str):
            raise InvalidRequestException(f"target {target!r} is not an ARN")
        if (name := arn.resource_name(target, "thing")) is not None:
            if not db.execute("SELECT 1 FROM things WHERE name = ?", (name,)).fetchone():
                raise ResourceNotFoundException(f"Thing {name} cannot be found.")
            things.setdefault(name)
        elif (group := arn.resource_name(target, "thinggroup")) is not None:
            if not db.execute("SELECT 1 FROM thing_groups WHERE name = ?", (group,)).fetchone():
                raise ResourceNotFoundException(f"Thing group {group} cannot be found.")
            for member_group in group_and_descendants(db, group):
                for row in db.execute(
                    "SELECT thing_name FROM thing_group_members WHERE group_name = ?"
                    " ORDER BY thing_name",
                    (member_group,),
                ):
                    things.setdefault(row["thing_name"])
        else:
            raise InvalidRequestException(
                f"target {target!r} is not a thing or thing group ARN of this account"
                f" ({arn.thing_arn('<name>')} or {arn.thing_group_arn('<name>')})"
            )
    return list(things)


def targets_group(db: sqlite3.Connection, targets: list[str], group: str) -> bool:
    """Whether a job's targets include `group` directly or through an ancestor."""
    target_groups = {arn.resource_name(t, "thinggroup") for t in targets} - {None}
    name: str | None = group
    while name is not None:
        if name in target_groups:
            return True
        row = db.execute("SELECT parent_name FROM thing_groups WHERE name = ?", (name,)).fetchone()
        name = row["parent_name"] if row else None
    return False


def resolve_existing(db: sqlite3.Connection, targets: list[str]) -> list[str]:
    """resolve, skipping targets deleted since the job was created."""
    existing = []
    for target in targets:
        try:
            existing += resolve(db, [target])
        except ResourceNotFoundException:
            continue
    return existing
