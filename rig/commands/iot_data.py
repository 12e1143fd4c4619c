"""`buttonrig iot-data …`: thing shadows through the REST-shaped API (aws iot-data …).

As aws-cli: the response document goes to the positional `outfile`, nothing is printed;
`--payload` takes JSON text, `file://…` / `fileb://…`, or base64 (aws-cli v2's default binary
format), and `--shadow-name` addresses a named shadow.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
from typing import Any

from rig.commands.awscli import InputError, Operation, Param, add_operations
from rig.commands.outfiles import write_outfile

THING = Param("--thing-name", required=True)
SHADOW = Param("--shadow-name")


def _payload(raw: bytes, binary_format: str | None) -> bytes:
    """Raw JSON as given; otherwise base64 unless raw-in-base64-out was asked for."""
    try:
        json.loads(raw)
        return raw
    except RecursionError as exc:
        raise InputError("--payload: Invalid JSON: nested too deeply") from exc
    except ValueError:
        pass
    if binary_format == "raw-in-base64-out":
        return raw
    try:
        return base64.b64decode(raw, validate=True)
    except binascii.Error as exc:
        raise InputError(
            "--payload: neither JSON nor base64; give JSON text or file://document.json"
        ) from exc


OPERATIONS = [
    Operation(
        "get-thing-shadow",
        "GetThingShadow",
        (THING, SHADOW),
        lambda c, kw: c.get_thing_shadow(kw["thing_name"], kw.get("shadow_name", "")),
        positional=("outfile",),
    ),
    Operation(
        "update-thing-shadow",
        "UpdateThingShadow",
        (
            THING,
            SHADOW,
            Param("--payload", "blob", required=True),
            Param("--cli-binary-format", choices=("base64", "raw-in-base64-out")),
        ),
        lambda c, kw: c.update_thing_shadow(
            kw["thing_name"],
            _payload(kw["payload"], kw.get("cli_binary_format")),
            kw.get("shadow_name", ""),
        ),
        positional=("outfile",),
    ),
    Operation(
        "delete-thing-shadow",
        "DeleteThingShadow",
        (THING, SHADOW),
        lambda c, kw: c.delete_thing_shadow(kw["thing_name"], kw.get("shadow_name", "")),
        positional=("outfile",),
    ),
]


def _to_outfile(
    operation: Operation, args: argparse.Namespace, values: dict[str, Any], response: Any
) -> Any:
    del operation, args
    assert isinstance(response, bytes)
    write_outfile(values["outfile"], response)
    return None


def register(subparsers: Any) -> None:
    add_operations(
        subparsers,
        "iot-data",
        "AWS IoT data plane (aws iot-data …): thing shadows on the reference cloud",
        OPERATIONS,
        _to_outfile,
    )
