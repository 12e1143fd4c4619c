"""Requests decoded and responses encoded by the operation's shapes, REST-JSON as botocore does.

The request side: URI labels and query-string members by their shapes (here: botocore has no
server), headers and the JSON body by botocore's own REST-JSON parser (blobs base64, jsonvalue
headers, timestamps), a blob payload as the raw body. The response side: botocore's own REST-JSON
serializer, run on the output shape as if it were a request's (the same rules: header members to
headers, a payload member as the body, the rest a JSON object; blobs base64, timestamps epoch
seconds with milliseconds, as AWS IoT answers). Errors as botocore's rest-json parser reads them:
the status code, `x-amzn-ErrorType: <code>` and a body `{"message": …}`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from botocore.model import OperationModel
from botocore.parsers import RestJSONParser
from botocore.serialize import TIMESTAMP_PRECISION_MILLISECOND, create_serializer
from botocore.utils import parse_timestamp

from rig.cloud.core.errors import CloudError
from rig.cloud.http.routes import Operation


class SerializationException(CloudError):
    """A member whose value does not read as its shape's type (AWS's 400 for a bad request)."""

    code, http_status = "SerializationException", 400


@dataclass
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def _scalar(member: Any, name: str, text: str) -> Any:
    """A URI label or query value, read as botocore writes it (_get_uri_and_query_string_value)."""
    kind = member.type_name
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("float", "double"):
            return float(text)
        if kind == "timestamp":
            return parse_timestamp(text)
    except ValueError as exc:
        raise SerializationException(f"{name}: {text!r} is not a valid {kind}") from exc
    if kind == "boolean":
        if text not in ("true", "false"):
            raise SerializationException(f"{name}: {text!r} is not a valid boolean")
        return text == "true"
    return text


def _located(members: dict[str, Any], location: str) -> dict[str, Any]:
    return {n: m for n, m in members.items() if m.serialization.get("location") == location}


def decode_request(
    operation: Operation,
    labels: dict[str, str],
    query: dict[str, list[str]],
    headers: Any,
    body: bytes,
) -> dict[str, Any]:
    """The input members (API names, e.g. `thingName`) given in this request."""
    shape = operation.input_shape
    if shape is None:
        return {}
    members: dict[str, Any] = dict(shape.members)
    params: dict[str, Any] = {}
    payload = shape.serialization.get("payload")
    if payload is not None and members[payload].type_name in ("blob", "string"):
        if body:
            params[payload] = body if members[payload].type_name == "blob" else body.decode()
        _PARSER._parse_non_payload_attrs(  # headers only: the body is the payload
            {"headers": headers, "status_code": 200}, shape, members, params
        )
    else:
        try:
            parsed = _PARSER.parse({"headers": headers, "status_code": 200, "body": body}, shape)
        except (ValueError, TypeError) as exc:  # a body that is not JSON of the shape
            raise SerializationException(f"the request body does not parse: {exc}") from exc
        parsed.pop("ResponseMetadata", None)
        params.update(parsed)
    for name, member in _located(members, "uri").items():
        key = member.serialization.get("name", name)
        if key in labels:
            params[name] = _scalar(member, name, labels[key])
    named = {m.serialization.get("name", n) for n, m in _located(members, "querystring").items()}
    for name, member in _located(members, "querystring").items():
        key = member.serialization.get("name", name)
        if member.type_name == "map":  # the query's other keys
            params[name] = {k: v[-1] for k, v in query.items() if k not in named}
        elif key in query:
            values = query[key]
            if member.type_name == "list":
                params[name] = [_scalar(member.member, name, v) for v in values]
            else:
                params[name] = _scalar(member, name, values[-1])
    missing = [name for name in shape.required_members if params.get(name) is None]
    if missing:
        raise SerializationException(f"missing required member(s): {', '.join(missing)}")
    return params


def encode_response(operation: Operation, result: Any) -> Reply:
    """The operation's output: `result` a dict of output members (others are left out, as
    botocore would drop them) or, for an output whose payload is a blob, the bytes."""
    status = int(operation.http.get("responseCode", 200))
    shape = operation.output_shape
    if shape is None:
        return Reply(status)
    members: dict[str, Any] = shape.members
    payload = shape.serialization.get("payload")
    if isinstance(result, bytes | bytearray) and payload is not None:
        result = {payload: bytes(result)}
    if not isinstance(result, dict):
        raise TypeError(f"{operation.name} returned {type(result).__name__}, not its output")
    params = {k: v for k, v in result.items() if k in members and v is not None}
    for name in _located(members, "statusCode"):
        if name in params:
            status = int(params.pop(name))
    serialized = _SERIALIZER.serialize_to_request(params, _mirror(operation))
    headers = {k: str(v) for k, v in serialized["headers"].items()}
    body = serialized["body"]
    if isinstance(body, str):
        body = body.encode()
    if payload is not None and members[payload].type_name in ("blob", "string"):
        headers.setdefault("Content-Type", "application/json")  # AWS IoT's, for a shadow
    return Reply(status, headers, body or b"")


def encode_error(code: str, status: int, message: str) -> Reply:
    body = json.dumps({"message": message}).encode()
    return Reply(status, {"x-amzn-ErrorType": code, "Content-Type": "application/json"}, body)


@cache
def _mirror(operation: Operation) -> OperationModel:
    """The output shape as a request's input: serialized by the same REST-JSON rules."""
    return OperationModel(
        {
            "name": operation.name,
            "http": {"method": "POST", "requestUri": "/"},
            "input": {"shape": operation.output_shape.name},
        },
        operation.service_model,
    )


# both stateless: one of each serves every thread
_PARSER = RestJSONParser()
_SERIALIZER: Any = create_serializer(
    "rest-json", include_validation=False, timestamp_precision=TIMESTAMP_PRECISION_MILLISECOND
)
