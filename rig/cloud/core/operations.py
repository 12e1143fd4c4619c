"""How a service makes its operations reachable over the AWS HTTP APIs (rig/cloud/http/).

By default an operation `Service:OperationName` runs the method `operation_name` (botocore's
`xform_name`) of the service's facade with the request's members as keywords (`thingName` →
`thing_name`), the same method the CLI calls: nothing to register. The facade is the `Cloud`
itself unless a service package names another object for its model (`facade("iot-jobs-data",
lambda cloud: cloud.jobs_data)`). A service whose method cannot take the members as they come
registers a handler instead (`@handles("iot", "Name")`), which gets the facade and the keywords.
A service package does either at import time (its api module, which rig/cloud/api.py imports).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Handler = Callable[[Any, dict[str, Any]], Any]  # (the service's facade, keywords) -> output
Facade = Callable[[Any], Any]  # the Cloud -> the object whose methods are the operations

_handlers: dict[tuple[str, str], Handler] = {}
_facades: dict[str, Facade] = {}


def handles(service: str, operation: str) -> Callable[[Handler], Handler]:
    """Register `handler` for botocore service `service`'s operation `operation`."""

    def register(handler: Handler) -> Handler:
        _handlers[(service, operation)] = handler
        return handler

    return register


def handler(service: str, operation: str) -> Handler | None:
    return _handlers.get((service, operation))


def facade(service: str, getter: Facade) -> None:
    """The object a service model's operations are methods of (default: the Cloud)."""
    _facades[service] = getter


def facade_of(cloud: Any, service: str) -> Any:
    getter = _facades.get(service)
    return cloud if getter is None else getter(cloud)
