"""The AWS HTTP API's codec on a model of every location (issue #16): what botocore's own
REST-JSON serializer writes as a request is read back member for member, and what we write as a
response botocore's own parser reads back; the route templates, greedy labels included."""

from __future__ import annotations

import datetime
from email.message import Message

import pytest
from botocore.model import ServiceModel
from botocore.parsers import RestJSONParser
from botocore.serialize import create_serializer
from urllib3 import HTTPHeaderDict

from rig.cloud.http import codec, routes

MODEL = {
    "metadata": {
        "apiVersion": "2020-01-01",
        "protocol": "rest-json",
        "serviceId": "Probe",
        "signingName": "probe",
        "endpointPrefix": "probe",
    },
    "operations": {
        "Put": {
            "name": "Put",
            "http": {"method": "POST", "requestUri": "/items/{group}/{key+}", "responseCode": 201},
            "input": {"shape": "PutRequest"},
            "output": {"shape": "PutResponse"},
        },
        "Raw": {
            "name": "Raw",
            "http": {"method": "PUT", "requestUri": "/raw/{name}"},
            "input": {"shape": "RawRequest"},
            "output": {"shape": "RawResponse"},
        },
    },
    "shapes": {
        "PutRequest": {
            "type": "structure",
            "required": ["group", "key"],
            "members": {
                "group": {"shape": "String", "location": "uri", "locationName": "group"},
                "key": {"shape": "String", "location": "uri", "locationName": "key"},
                "count": {"shape": "Integer", "location": "querystring", "locationName": "n"},
                "flag": {"shape": "Boolean", "location": "querystring", "locationName": "f"},
                "tags": {"shape": "Strings", "location": "querystring", "locationName": "tag"},
                "who": {"shape": "String", "location": "header", "locationName": "x-who"},
                "meta": {
                    "shape": "Json",
                    "location": "header",
                    "locationName": "x-meta",
                },
                "data": {"shape": "Blob"},
                "when": {"shape": "Timestamp"},
                "nested": {"shape": "Nested"},
            },
        },
        "PutResponse": {
            "type": "structure",
            "members": {
                "etag": {"shape": "String", "location": "header", "locationName": "ETag"},
                "data": {"shape": "Blob"},
                "when": {"shape": "Timestamp"},
                "nested": {"shape": "Nested"},
            },
        },
        "RawRequest": {
            "type": "structure",
            "required": ["name"],
            "members": {
                "name": {"shape": "String", "location": "uri", "locationName": "name"},
                "body": {"shape": "Blob"},
            },
            "payload": "body",
        },
        "RawResponse": {
            "type": "structure",
            "members": {"body": {"shape": "Blob"}},
            "payload": "body",
        },
        "Nested": {"type": "structure", "members": {"a": {"shape": "Strings"}}},
        "String": {"type": "string"},
        "Strings": {"type": "list", "member": {"shape": "String"}},
        "Integer": {"type": "integer"},
        "Boolean": {"type": "boolean"},
        "Blob": {"type": "blob"},
        "Timestamp": {"type": "timestamp"},
        "Json": {"type": "string", "jsonvalue": True},
    },
}
SERVICE = ServiceModel(MODEL, "probe")
WHEN = datetime.datetime(2026, 12, 7, 1, 2, 3, 456000, tzinfo=datetime.timezone.utc)


def _operation(name: str) -> routes.Operation:
    return routes.Operation(SERVICE.operation_model(name))


def _headers(pairs: dict[str, str]) -> Message:
    message = Message()
    for name, value in pairs.items():
        message[name] = value
    return message


def _as_received(name: str, params: dict) -> tuple[str, dict, Message, bytes]:
    """What botocore would send for `params`, split as our server receives it."""
    request = create_serializer("rest-json").serialize_to_request(
        params, SERVICE.operation_model(name)
    )
    query = {k: v if isinstance(v, list) else [v] for k, v in request["query_string"].items()}
    body = request["body"] if isinstance(request["body"], bytes) else request["body"].encode()
    return request["url_path"], query, _headers(request["headers"]), body


def test_request_members_of_every_location_read_back() -> None:
    sent = {
        "group": "g 1",
        "key": "a/b/c d",
        "count": 7,
        "flag": False,
        "tags": ["x", "y"],
        "who": "me",
        "meta": {"k": [1, 2]},
        "data": b"\x00\xffbytes",
        "when": WHEN,
        "nested": {"a": ["1"]},
    }
    path, query, headers, body = _as_received("Put", sent)
    operation = _operation("Put")
    pattern, _ = routes.compile_template(operation.http["requestUri"])
    route = routes.Route("probe", operation, pattern, 0)
    labels = route.match("POST", path)
    assert labels is not None
    assert labels == {"group": "g 1", "key": "a/b/c d"}  # greedy: the slashes stay
    assert route.match("GET", path) is None
    received = codec.decode_request(operation, labels, query, headers, body)
    assert received == sent


def test_a_blob_payload_is_the_raw_body() -> None:
    _path, query, headers, body = _as_received("Raw", {"name": "n", "body": b'{"raw": 1}'})
    assert body == b'{"raw": 1}'
    received = codec.decode_request(_operation("Raw"), {"name": "n"}, query, headers, body)
    assert received == {"name": "n", "body": b'{"raw": 1}'}
    reply = codec.encode_response(_operation("Raw"), b"\x01\x02")
    assert (reply.status, reply.body) == (200, b"\x01\x02")


def test_missing_required_member_is_refused() -> None:
    with pytest.raises(codec.SerializationException):
        codec.decode_request(_operation("Put"), {"group": "g"}, {}, _headers({}), b"")
    with pytest.raises(codec.SerializationException):
        codec.decode_request(
            _operation("Put"), {"group": "g", "key": "k"}, {"n": ["seven"]}, _headers({}), b""
        )


def test_response_reads_back_with_botocores_parser() -> None:
    result = {
        "etag": "v7",
        "data": b"\x00bin",
        "when": WHEN.timestamp(),
        "nested": {"a": ["z"]},
        "notInTheShape": "dropped",
    }
    reply = codec.encode_response(_operation("Put"), result)
    assert reply.status == 201  # the operation's responseCode
    parsed = RestJSONParser().parse(
        {"status_code": reply.status, "headers": reply.headers, "body": reply.body},
        SERVICE.operation_model("Put").output_shape,
    )
    parsed.pop("ResponseMetadata")
    assert parsed == {"etag": "v7", "data": b"\x00bin", "when": WHEN, "nested": {"a": ["z"]}}


def test_error_reads_back_as_botocore_does() -> None:
    reply = codec.encode_error("ResourceNotFoundException", 404, "Thing x cannot be found.")
    headers = HTTPHeaderDict(reply.headers)  # case-insensitive, as urllib3 gives botocore
    parsed = RestJSONParser().parse(
        {"status_code": reply.status, "headers": headers, "body": reply.body}, None
    )
    assert parsed["Error"] == {
        "Code": "ResourceNotFoundException",
        "Message": "Thing x cannot be found.",
    }
