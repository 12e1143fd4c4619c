"""aws-cli look-alike plumbing for `buttonrig iot …` / `iot-data …` (and later groups).

An `Operation` names the command (`describe-thing`), the API operation (`DescribeThing`), its
parameters (aws-cli option names; each maps to the API member `thingName` and the Python keyword
`thing_name`) and the call on `rig.cloud.api.Cloud`. This module turns a list of them into
argparse sub-commands that:

* accept `--cli-input-json file://…` (or inline JSON) with API member names; options given on
  the command line win over it;
* read `file://` (text) and `fileb://` (bytes) parameter values, JSON or aws-cli shorthand
  (`a=1,b=x`) for structures, `--flag` / `--no-flag` for booleans;
* print the response as aws-cli does (JSON, 4-space indent; nothing for an empty response);
* turn a `CloudError` into aws-cli's message on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rig.cloud.api import Cloud
from rig.cloud.core import arn
from rig.cloud.core.errors import CloudError
from rig.commands import outfiles
from rig.commands.errors import CommandError
from rig.commands.shapes import (
    BLOB,
    BOOLEAN,
    INTEGER,
    STRING,
    ParamValidationError,
    Shape,
    list_of,
    problems,
    structure,
)

Call = Callable[[Cloud, dict[str, Any]], Any]


@dataclass(frozen=True)
class Param:
    """One option. kind: string, integer, boolean, structure, text (file:// allowed), blob,
    list (of strings: `--targets arn1 arn2`, as aws-cli takes a list member)."""

    flag: str
    kind: str = "string"
    required: bool = False
    help: str = ""
    choices: tuple[str, ...] | None = None
    shape: Shape | None = None  # structures: their members (default: any JSON object)
    # `Key={k=v,…}` one level deep, for options whose aws-cli examples use it
    # (lambda create-function --environment Variables={KEY=value})
    nested_shorthand: bool = False
    # other spellings the guides' commands use (aws-cli v1 took unambiguous prefixes, e.g. the
    # guide's `--verification-cert` for --verification-certificate)
    aliases: tuple[str, ...] = ()

    @property
    def member(self) -> str:
        head, *rest = self.flag.lstrip("-").split("-")
        return head + "".join(word.capitalize() for word in rest)

    @property
    def keyword(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def dest(self) -> str:
        """Its argparse attribute: `--handler` (lambda create-function) must not replace the
        sub-command's `handler` function that rig/cli.py calls."""
        return "option_handler" if self.keyword == "handler" else self.keyword


@dataclass(frozen=True)
class Operation:
    command: str
    api_name: str
    params: tuple[Param, ...]
    call: Call
    help: str = ""
    positional: tuple[str, ...] = field(default_factory=tuple)  # e.g. ("outfile",)


class InputError(CommandError):
    """Bad command-line input (aws-cli exits 252 for these; we use 255 like other errors)."""


def read_file_value(value: str, binary: bool = False) -> str | bytes:
    """`file://path` → text, `fileb://path` → bytes, else the value itself."""
    for prefix, as_bytes in (("fileb://", True), ("file://", False)):
        if value.startswith(prefix):
            path = Path(value[len(prefix) :]).expanduser()
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise InputError(f"Error parsing parameter: unable to read {path}: {exc}") from exc
            if as_bytes or binary:
                return data
            try:
                return data.decode()
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"Error parsing parameter: {path} is not UTF-8 text ({exc.reason} at byte"
                    f" {exc.start}); use fileb:// for binary data"
                ) from exc
    return value.encode() if binary else value


def read_text_value(value: str, what: str) -> str:
    """read_file_value for a value that must be text: `fileb://` too, if it is UTF-8."""
    data = read_file_value(value)
    if isinstance(data, str):
        return data
    try:
        return data.decode()
    except UnicodeDecodeError as exc:
        raise InputError(f"{what}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def load_json(text: str | bytes, what: str) -> Any:
    """json.loads, its failures (a nesting too deep for the parser included) as InputError."""
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise InputError(f"{what}: Invalid JSON: nested too deeply") from exc
    except ValueError as exc:  # JSONDecodeError, and bytes that are not UTF-8/16/32
        raise InputError(f"{what}: Invalid JSON: {exc}") from exc


def parse_structure(
    flag: str, value: str, shape: Shape | None = None, nested_shorthand: bool = False
) -> Any:
    """JSON, or flat aws-cli shorthand `key=value,key2=a,b` (lists when a value has commas, or
    when `shape` says the member is a list); nested shorthand is refused with a pointer to JSON."""
    text = read_text_value(value, f"Error parsing parameter '{flag}'")
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        return load_json(stripped, f"Error parsing parameter '{flag}'")
    nested = re.fullmatch(r"([A-Za-z_]\w*)=\{([^{}\[\]]*)\}", stripped)
    if nested and nested_shorthand:  # `--environment Variables={KEY=value,KEY2=value2}`
        inner = parse_structure(flag, nested.group(2)) if nested.group(2).strip() else {}
        return {nested.group(1): {k: str(v) for k, v in inner.items()}}
    if re.search(r"=\s*[{\[]", stripped):  # deeper key={…} / key=[…]: not parsed here
        raise InputError(
            f"Error parsing parameter '{flag}': nested shorthand (key={{...}} or key=[...]) is"
            ' not supported; give JSON instead, e.g. \'{"attributes": {"a": "1"}}\''
        )
    result: dict[str, Any] = {}
    for pair in re.split(r",\s*(?=[A-Za-z_][\w.]*=)", stripped):
        if "=" not in pair:
            raise InputError(f"Error parsing parameter '{flag}': expected key=value, got {pair!r}")
        key, raw = (part.strip() for part in pair.split("=", 1))
        member = shape.members.get(key) if shape is not None else None
        member_type = member.type_name if member is not None else None
        if member_type == "string":
            result[key] = raw
        elif member_type == "integer" and re.fullmatch(r"-?[0-9]+", raw):
            result[key] = int(raw)  # aws-cli reads shorthand by the member's shape
        elif member_type == "list" or "," in raw:
            result[key] = [item.strip() for item in raw.split(",") if item.strip()]
        elif raw.lower() in ("true", "false"):
            result[key] = raw.lower() == "true"
        else:
            result[key] = raw
    return result


def _convert(param: Param, value: Any) -> Any:
    if value is None:
        return None
    if param.kind == "integer":
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{param.flag}: expected an integer, got {value!r}") from exc
    if param.kind == "boolean":
        return bool(value)
    if param.kind == "structure":
        if isinstance(value, str):
            return parse_structure(param.flag, value, param.shape, param.nested_shorthand)
        return value
    if param.kind == "list":  # its shape (a list of strings) was checked
        return list(value)
    if param.kind in ("text", "blob"):  # strings: the request's shape was checked
        data = read_file_value(value, binary=param.kind == "blob")
        if param.kind == "text" and isinstance(data, bytes):
            # fileb:// for a string member: aws-cli passes the bytes on and botocore's
            # ParamValidator refuses them
            raise InputError(
                "Parameter validation failed:\nInvalid type for parameter"
                f" {param.member}, value: {data[:32]!r}, type: <class 'bytes'>,"
                " valid types: <class 'str'>"
            )
        return data
    if param.choices and value not in param.choices:
        raise InputError(f"{param.flag}: must be one of {', '.join(param.choices)}, got {value!r}")
    return value


def _cli_input(value: str | None) -> dict[str, Any]:
    if not value:
        return {}
    text = read_text_value(value, "--cli-input-json")
    data = load_json(text, "--cli-input-json")
    if not isinstance(data, dict):
        raise InputError("--cli-input-json: expected a JSON object")
    return data


def param_shape(param: Param) -> Shape:
    """The member's botocore shape: text (file:// allowed) is a string, as in the API."""
    if param.shape is not None:
        return param.shape
    if param.kind == "structure":
        return Shape("map")  # any JSON object; the cloud checks its members
    if param.kind == "list":
        return list_of(STRING)
    return {"integer": INTEGER, "boolean": BOOLEAN, "blob": BLOB}.get(param.kind, STRING)


def request_shape(operation: Operation) -> Shape:
    members = {param.member: param_shape(param) for param in operation.params}
    members.update({name: STRING for name in operation.positional})
    return structure(**members)


def _from_command_line(param: Param, raw: Any) -> Any:
    """An option as typed: integers and structures parsed (structures may be file://…);
    text and blobs stay as given until the request has been validated."""
    if param.kind in ("integer", "structure"):
        return _convert(param, raw)
    return raw


def gather(operation: Operation, args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for the call: --cli-input-json, overridden by explicit options.

    As aws-cli: the two are merged into one request, which is validated against the
    operation's shape (botocore's ParamValidator wording, exit 255) before any file:// value is
    read or any value converted: `{"setAsActive": "false"}` is refused, not read as True."""
    from_json = _cli_input(getattr(args, "cli_input_json", None))
    shape = request_shape(operation)
    by_member = {param.member: param for param in operation.params}
    typed = {
        param.member: getattr(args, param.dest)
        for param in operation.params
        if getattr(args, param.dest, None) is not None
    }
    typed.update(
        {name: getattr(args, name) for name in operation.positional if getattr(args, name, None)}
    )
    # the --cli-input-json part first: nothing of it is read or converted if it is wrong
    found = problems({k: v for k, v in from_json.items() if k not in typed}, shape)
    if found:
        raise ParamValidationError(found)
    request = dict(from_json)
    for member, raw in typed.items():
        param = by_member.get(member)
        request[member] = raw if param is None else _from_command_line(param, raw)
    found = problems(request, shape)  # shorthand and JSON given on the command line
    if found:
        raise ParamValidationError(found)
    values: dict[str, Any] = {}
    for param in operation.params:
        value = _convert(param, request.get(param.member))
        if value is None:
            if param.required:
                raise InputError(
                    f"the following arguments are required: {param.flag}"
                    f" (or {param.member} in --cli-input-json)"
                )
            continue
        values[param.keyword] = value
    for name in operation.positional:
        value = request.get(name)
        if not value:
            raise InputError(f"the following arguments are required: {name}")
        values[name] = value
    return values


def check_outfiles(operation: Operation, values: dict[str, Any]) -> None:
    """Refuse before calling the service when an outfile cannot be written: a private key
    issued and then not saved is lost for good, and a shadow update is applied for good."""
    seen: dict[Path, str] = {}
    for keyword, value in values.items():
        if not (keyword == "outfile" or keyword.endswith("_outfile")) or not value:
            continue
        flag = keyword if keyword == "outfile" else "--" + keyword.replace("_", "-")
        try:
            mode, path = outfiles.plan(Path(value).expanduser())
        except ValueError as exc:
            raise InputError(f"{operation.command}: {flag} {value}: {exc}") from exc
        if mode is not outfiles.WriteMode.ATOMIC:
            continue  # a pipe or device takes one write after another (two outfiles to stdout)
        if path in seen:
            raise InputError(
                f"{operation.command}: {flag} {value}: also given as {seen[path]}:"
                " one would overwrite the other"
            )
        seen[path] = flag


def print_response(response: Any) -> None:
    if response in (None, {}):
        return  # aws-cli prints nothing for an empty response
    print(json.dumps(response, indent=4))


def add_operations(
    subparsers: Any,
    group: str,
    help_text: str,
    operations: list[Operation],
    finish: Callable[[Operation, argparse.Namespace, dict[str, Any], Any], Any] | None = None,
) -> None:
    """Add `buttonrig <group> <command>` for every operation."""
    # aws-cli takes no abbreviations: `--thing-nam` is an error, not --thing-name
    parser = subparsers.add_parser(
        group, help=help_text, description=help_text, allow_abbrev=False
    )
    commands = parser.add_subparsers(dest="operation", metavar="OPERATION", required=True)
    for operation in operations:
        sub = commands.add_parser(
            operation.command, help=operation.help or operation.api_name, allow_abbrev=False
        )
        for param in operation.params:
            if param.kind == "boolean":
                sub.add_argument(param.flag, dest=param.dest, action="store_true", default=None)
                sub.add_argument(
                    "--no-" + param.flag[2:],
                    dest=param.dest,
                    action="store_false",
                )
            elif param.kind == "list":
                sub.add_argument(param.flag, dest=param.dest, nargs="+", help=param.help)
            else:
                sub.add_argument(param.flag, *param.aliases, dest=param.dest, help=param.help)
        for name in operation.positional:
            sub.add_argument(name, nargs="?")
        sub.add_argument("--cli-input-json", help="file://request.json or inline JSON")
        # aws-cli's global --region (the workshop gives it: `--region $AWS_REGION`)
        sub.add_argument(
            "--region", dest="aws_region", help=f"the cloud's one region: {arn.REGION}"
        )
        sub.set_defaults(handler=_handler(operation, finish))


def _handler(
    operation: Operation,
    finish: Callable[[Operation, argparse.Namespace, dict[str, Any], Any], Any] | None,
) -> Callable[[argparse.Namespace], int]:
    def handle(args: argparse.Namespace) -> int:
        try:
            return _handle(args)
        except RecursionError as exc:  # a value nested deeper than Python recurses
            raise InputError(f"{operation.command}: a value is nested too deeply") from exc

    def _handle(args: argparse.Namespace) -> int:
        region = getattr(args, "aws_region", None)
        if region is not None and region != arn.REGION:
            raise InputError(
                f"--region {region}: the reference cloud has one region, {arn.REGION}"
            )
        values = gather(operation, args)
        check_outfiles(operation, values)
        cloud = Cloud(args.home)
        try:
            response = operation.call(cloud, values)
        except CloudError as exc:
            raise CommandError(
                f"An error occurred ({exc.code}) when calling the {operation.api_name}"
                f" operation: {exc.message}"
            ) from exc
        finally:
            cloud.close()
        if finish is not None:
            response = finish(operation, args, values, response)
        print_response(response)
        return 0

    return handle
