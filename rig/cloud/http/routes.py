"""Which operation a request is: matched against the `requestUri` templates of the service models
botocore ships (no route table of ours), the service chosen by the request's SigV4 credential
scope (`Credential=<key>/<date>/<region>/<service>/aws4_request`) where a path is in two models
(`GET /things/{thingName}/jobs/{jobId}` is iot DescribeJobExecution and iot-jobs-data
DescribeJobExecution). Signatures are not checked (docs/cloud-decisions.md H-2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import unquote

from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel

# the models served, by botocore's service name (the one boto3.client() takes)
SERVICES = ("iot", "iot-data", "iot-jobs-data")
_CREDENTIAL = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/,\s]+)/([^/,\s]+)/aws4_request")
_LABEL = re.compile(r"\{([A-Za-z0-9_]+)(\+?)\}")


class NoRoute(Exception):
    """No operation of the models answers this method and path (or the scope names none)."""


class Unsigned(Exception):
    """No SigV4 credential scope: AWS answers 403 MissingAuthenticationTokenException."""


class Operation:
    """One operation of a model, typed: botocore's OperationModel properties are untyped."""

    def __init__(self, model: OperationModel) -> None:
        loose: Any = model
        self.model = model
        self.name: str = loose.name
        self.http: dict[str, Any] = dict(loose.http)
        self.input_shape: Any = loose.input_shape  # a StructureShape, or None
        self.output_shape: Any = loose.output_shape
        self.service_model: ServiceModel = loose.service_model


@dataclass(frozen=True)
class Route:
    service: str  # botocore's service name: "iot", "iot-data", "iot-jobs-data"
    operation: Operation
    pattern: re.Pattern[str]
    literal_length: int  # longer literal text wins ("/jobs/$next" over "/jobs/{jobId}")

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.operation.http["method"]:
            return None
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        return {name: unquote(value) for name, value in found.groupdict().items()}


def compile_template(request_uri: str) -> tuple[re.Pattern[str], int]:
    """`/things/{thingName}/jobs/{jobId}` → a regex with one group per label; `{name+}` is
    greedy (it may span `/`), as botocore renders it (percent_encode with safe='/~')."""
    path = request_uri.split("?", 1)[0]
    parts, position, literal = [], 0, 0
    for label in _LABEL.finditer(path):
        text = path[position : label.start()]
        parts.append(re.escape(text))
        literal += len(text)
        parts.append(f"(?P<{label.group(1)}>{'.+' if label.group(2) else '[^/]+'})")
        position = label.end()
    parts.append(re.escape(path[position:]))
    literal += len(path) - position
    return re.compile("".join(parts)), literal


@cache
def service_model(service: str) -> ServiceModel:
    return ServiceModel(Loader().load_service_model(service, "service-2"), service)


@cache
def signing_names() -> dict[str, str]:
    """The credential scope's service → botocore's service name (iot-data signs as `iotdata`)."""
    names: dict[str, str] = {}
    for service in SERVICES:
        loose: Any = service_model(service)
        names[str(loose.signing_name)] = service
    return names


@cache
def routes(service: str) -> dict[tuple[str, str], tuple[Route, ...]]:
    """The model's operations by (method, first path segment), most literal text first (a
    literal segment beats a label that would also match it). Every requestUri of the three
    models starts with a literal segment; one that did not would be filed under ""."""
    model: Any = service_model(service)
    compiled: dict[tuple[str, str], list[Route]] = {}
    for name in model.operation_names:
        operation = Operation(model.operation_model(name))
        pattern, literal = compile_template(operation.http["requestUri"])
        first = _first_segment(operation.http["requestUri"])
        key = (operation.http["method"], "" if "{" in first else first)
        compiled.setdefault(key, []).append(Route(service, operation, pattern, literal))
    return {
        key: tuple(sorted(found, key=lambda route: -route.literal_length))
        for key, found in compiled.items()
    }


def _first_segment(path: str) -> str:
    return path.split("?", 1)[0].lstrip("/").split("/", 1)[0]


def signing_service(authorization: str | None, credential_query: str | None) -> str:
    """The service of the request's credential scope (header, or presigned X-Amz-Credential)."""
    scope = authorization or ""
    if credential_query:
        scope = f"Credential={credential_query}"
    found = _CREDENTIAL.search(scope)
    if found is None:
        raise Unsigned("Missing Authentication Token")
    return found.group(2)


def resolve(method: str, path: str, signed_for: str) -> tuple[Route, dict[str, str]]:
    """The operation and its URI labels (percent-decoded) for a request signed for a service."""
    service = signing_names().get(signed_for)
    if service is None:
        raise NoRoute(
            f"the reference cloud serves {', '.join(sorted(signing_names()))}; this request is"
            f" signed for {signed_for!r}"
        )
    raw_path = path.split("?", 1)[0]
    by_segment = routes(service)
    candidates = by_segment.get((method, _first_segment(raw_path)), ()) + by_segment.get(
        (method, ""), ()
    )
    for route in candidates:
        labels = route.match(method, raw_path)
        if labels is not None:
            return route, labels
    raise NoRoute(f"no {service} operation answers {method} {raw_path}")
