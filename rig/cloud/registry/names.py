"""Names, attributes, versions and pages: the checks and shapes every registry operation shares."""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any

from rig.cloud.core.errors import (
    InvalidRequestException,
    VersionConflictException,
)

THING_NAME = re.compile(r"[a-zA-Z0-9:_-]{1,128}")
ATTRIBUTE_NAME = re.compile(r"[a-zA-Z0-9_.,@/:#-]{1,128}")
ATTRIBUTE_VALUE = re.compile(r"[a-zA-Z0-9_.,@/:#-]{0,800}")
MAX_ATTRIBUTES_UNTYPED, MAX_ATTRIBUTES_TYPED = 3, 50
MAX_GROUPS_PER_THING, MAX_GROUP_DEPTH = 10, 7


def check_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not THING_NAME.fullmatch(name):
        raise InvalidRequestException(
            f"{kind} {name!r} is invalid: 1-128 characters from [a-zA-Z0-9:_-]"
        )
    return name


def parse_attributes(payload: dict[str, Any] | None) -> tuple[dict[str, str], bool]:
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


def epoch_s(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000.0


def updated_attributes(stored: str, payload: dict[str, Any] | None) -> dict[str, str]:
    """The attributes after an update (UpdateThing, UpdateThingGroup): kept without a payload,
    replaced by it, or merged into with `merge` (where an empty value removes one)."""
    new_attributes, merge = parse_attributes(payload)
    attributes = json.loads(stored) if merge or payload is None else {}
    for name, value in new_attributes.items():
        if merge and value == "":  # "To remove an attribute ... an empty value"
            attributes.pop(name, None)
        else:
            attributes[name] = value
    return attributes


def check_expected_version(what: str, row: sqlite3.Row, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != row["version"]:
        raise VersionConflictException(
            f"expectedVersion {expected_version} but {what} is at version {row['version']}"
        )


def page(
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
