"""An HTTP request → its operation → the service code the CLI calls → the AWS-shaped reply.

No table of operations here: the route comes from the model (routes.py), the code from the
service's facade by the operation's name or a handler a service registered
(rig/cloud/core/operations.py). An operation the cloud does not implement is answered 501
`UnknownOperationException` naming it; a failure that is no service error is a 500
`InternalFailureException` with its message, logged here, never a traceback to the client.
"""

from __future__ import annotations

import inspect
import logging
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from botocore import xform_name

from rig.cloud.api import Cloud
from rig.cloud.core import operations
from rig.cloud.core.errors import CloudError, InvalidRequestException
from rig.cloud.http import codec, routes
from rig.cloud.http.routes import Operation

log = logging.getLogger(__name__)

_UNEXPECTED = re.compile(r"unexpected keyword argument '(\w+)'")


class UnknownOperationException(CloudError):
    code, http_status = "UnknownOperationException", 501


class MissingAuthenticationTokenException(CloudError):
    code, http_status = "MissingAuthenticationTokenException", 403


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # still percent-encoded, without the query
    query: dict[str, list[str]]
    headers: Any  # case-insensitive mapping (http.server's message)
    body: bytes


def handle(cloud: Cloud, request: Request) -> codec.Reply:
    try:
        signed_for = routes.signing_service(
            request.headers.get("Authorization"),
            (request.query.get("X-Amz-Credential") or [None])[-1],
        )
        route, labels = routes.resolve(request.method, request.path, signed_for)
    except routes.Unsigned as exc:
        return _error(MissingAuthenticationTokenException(str(exc)))
    except routes.NoRoute as exc:
        return codec.encode_error("UnknownOperationException", 404, str(exc))
    try:
        params = codec.decode_request(
            route.operation, labels, request.query, request.headers, request.body
        )
        return codec.encode_response(
            route.operation, call(cloud, route.service, route.operation, params)
        )
    except CloudError as exc:
        return _error(exc)
    except Exception as exc:  # a defect of ours: the client still gets AWS's shape
        log.exception("%s %s failed", route.service, route.operation.name)
        return codec.encode_error("InternalFailureException", 500, f"{type(exc).__name__}: {exc}")


def implemented(cloud: Cloud, service: str, operation: str) -> bool:
    """Whether the cloud has code for `operation` of botocore model `service`."""
    if operations.handler(service, operation) is not None:
        return True
    return callable(getattr(operations.facade_of(cloud, service), xform_name(operation), None))


def call(cloud: Cloud, service: str, operation: Operation, params: dict[str, Any]) -> Any:
    """Run `operation` with its members `params` (API names) on the service's code."""
    keywords = {xform_name(name): value for name, value in params.items()}
    facade = operations.facade_of(cloud, service)
    registered = operations.handler(service, operation.name)
    if registered is not None:
        return registered(facade, keywords)
    method = getattr(facade, xform_name(operation.name), None)
    if method is None or not callable(method):
        raise UnknownOperationException(
            f"the reference cloud does not implement {service} {operation.name}"
        )
    _check_keywords(method, keywords, params, operation)
    try:
        return method(**keywords)
    except TypeError as exc:  # a member a **kwargs method passed on and its store refuses
        found = _UNEXPECTED.search(str(exc))
        if found is None or found.group(1) not in keywords:
            raise
        raise _unsupported(operation, _member_of(found.group(1), params)) from exc


def _check_keywords(
    method: Any, keywords: dict[str, Any], params: dict[str, Any], operation: Operation
) -> None:
    accepted = _keywords_of(getattr(method, "__func__", method))
    if accepted is None:
        return
    for keyword in keywords:
        if keyword not in accepted:
            raise _unsupported(operation, _member_of(keyword, params))


@cache
def _keywords_of(function: Any) -> frozenset[str] | None:
    """The keywords a method takes; None when it takes any (**kwargs)."""
    parameters = inspect.signature(function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return None
    return frozenset(parameters)


def _member_of(keyword: str, params: dict[str, Any]) -> str:
    return next((name for name in params if xform_name(name) == keyword), keyword)


def _unsupported(operation: Operation, member: str) -> InvalidRequestException:
    return InvalidRequestException(
        f"{operation.name}: the reference cloud does not support the parameter {member}"
    )


def _error(exc: CloudError) -> codec.Reply:
    return codec.encode_error(exc.code, exc.http_status, exc.message)
