"""Click messages: the wire contract of `iotbutton/<serial>` (docs/contracts.md) checked.

Pure: no database, no MQTT. `parse(topic, payload)` gives the message's fields or a ClickError
naming the field that is wrong.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

CLICK_FILTER = "iotbutton/+"
CLICK_TYPES = ("SINGLE", "DOUBLE", "LONG")
_BATTERY = re.compile(r"^\d+mV$")
_REPORTED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
_EVENT_ID = re.compile(r"^[0-9a-f]{16}$")


class ClickError(ValueError):
    """A message on iotbutton/+ that is not a click message (the reason says which field)."""


@dataclass(frozen=True)
class Click:
    """One click as the cloud received it (first copy) and how many copies arrived."""

    event_id: str
    serial: str
    topic: str
    click_type: str
    battery_voltage: str
    reported_time: str
    payload: dict[str, Any]
    received_ms: int
    received_mono_ms: float
    copies: int


def parse(topic: str, payload: bytes) -> dict[str, Any]:
    """The click message's fields, checked against the wire contract; ClickError if not one."""
    try:
        message = json.loads(payload)
    except ValueError as exc:
        raise ClickError("payload is not JSON") from exc
    if not isinstance(message, dict):
        raise ClickError("payload is not a JSON object")
    checks = (
        ("serialNumber", lambda v: isinstance(v, str) and v == topic.split("/", 1)[1]),
        ("clickType", lambda v: v in CLICK_TYPES),
        ("batteryVoltage", lambda v: isinstance(v, str) and bool(_BATTERY.match(v))),
        ("reportedTime", lambda v: isinstance(v, str) and bool(_REPORTED.match(v))),
        ("eventId", lambda v: isinstance(v, str) and bool(_EVENT_ID.match(v))),
    )
    for field, ok in checks:
        if field not in message:
            raise ClickError(f"{field} missing")
        if not ok(message[field]):
            raise ClickError(f"{field} invalid: {message[field]!r}")
    return message
