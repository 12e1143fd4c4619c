"""Request shapes and botocore's parameter validation, for `--cli-input-json` and friends.

aws-cli hands a request to botocore, whose ParamValidator checks every member against the
operation's input shape before anything is sent: `{"setAsActive": "false"}` is refused (a string
is not a boolean) instead of being read as `bool("false")`, i.e. True. The messages follow
botocore's wording, so scripts and people who know aws-cli recognise them:

    Parameter validation failed:
    Invalid type for parameter setAsActive, value: false, type: <class 'str'>, valid types: <class 'bool'>
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rig.commands.errors import CommandError


@dataclass(frozen=True)
class Shape:
    """A botocore shape, reduced to what validation needs."""

    type_name: str  # string, integer, boolean, blob, structure, list, map
    members: Mapping[str, Shape] = field(default_factory=dict)  # structure
    member: Shape | None = None  # list element
    value: Shape | None = None  # map value (map keys are JSON object keys: strings)


STRING = Shape("string")
INTEGER = Shape("integer")
BOOLEAN = Shape("boolean")
BLOB = Shape("blob")


def structure(**members: Shape) -> Shape:
    return Shape("structure", members=members)


def list_of(member: Shape) -> Shape:
    return Shape("list", member=member)


def map_of(value: Shape) -> Shape:
    return Shape("map", value=value)


# botocore names the valid types by str() of the Python types it accepts
VALID_TYPES: dict[str, tuple[str, ...]] = {
    "string": (str(str),),
    "integer": (str(int),),
    "boolean": (str(bool),),
    "blob": (str(bytes), str(bytearray), "file-like object"),
    "structure": (str(dict),),
    "list": (str(list), str(tuple)),
    "map": (str(dict),),
}


class ParamValidationError(CommandError):
    """botocore's ParamValidationError: every problem of the request, one per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("Parameter validation failed:\n" + "\n".join(problems))
        self.problems = problems


def _has_type(value: Any, type_name: str) -> bool:
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "integer":
        # botocore lets True through (bool subclasses int); a version number of True is
        # the same mistake as setAsActive "false", so it is refused here
        return isinstance(value, int) and not isinstance(value, bool)
    if type_name == "boolean":
        return isinstance(value, bool)
    if type_name == "blob":
        return isinstance(value, (bytes, bytearray, str))
    if type_name in ("structure", "map"):
        return isinstance(value, dict)
    if type_name == "list":
        return isinstance(value, (list, tuple))
    raise ValueError(f"unknown shape type {type_name!r}")


def _display_name(name: str) -> str:
    return name[1:] if name.startswith(".") else name or "input"


def problems(value: Any, shape: Shape, name: str = "") -> list[str]:
    """Every way `value` breaks `shape`, in botocore's words; [] when it fits."""
    if not _has_type(value, shape.type_name):
        return [
            f"Invalid type for parameter {_display_name(name)}, value: {value}, type:"
            f" {type(value)}, valid types: {', '.join(VALID_TYPES[shape.type_name])}"
        ]
    found: list[str] = []
    if shape.type_name == "structure":
        for key, item in value.items():
            member = shape.members.get(key)
            if member is None:
                found.append(
                    f'Unknown parameter in {_display_name(name)}: "{key}", must be one of:'
                    f" {', '.join(shape.members)}"
                )
            else:
                found += problems(item, member, f"{name}.{key}")
    elif shape.type_name == "list" and shape.member is not None:
        for index, item in enumerate(value):
            found += problems(item, shape.member, f"{name}[{index}]")
    elif shape.type_name == "map" and shape.value is not None:
        for key, item in value.items():
            found += problems(item, shape.value, f"{name}.{key}")
    return found


def validate(request: Any, shape: Shape) -> None:
    """Raise ParamValidationError when `request` does not fit `shape`."""
    found = problems(request, shape)
    if found:
        raise ParamValidationError(found)
