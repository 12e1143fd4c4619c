"""Helpers for the 1-Click tests: a recording function invoker, click messages as the firmware
sends them, and JSON Schemas of the payloads written from the AWS IoT 1-Click Developer Guide
("AWS IoT 1-Click Click Events", "Health Events") and the CLI page's list-device-events."""

from __future__ import annotations

import json
import secrets
import threading
import time
from datetime import UTC, datetime
from typing import Any

import jsonschema

# The Developer Guide's meeting-room example: a project whose two device templates each call
# their own function ("Projects and placements").
SAT_LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:SatLambda"
UNSAT_LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:UnsatLambda"
MEETING_ROOM_TEMPLATE = {
    "defaultAttributes": {"Building": "Headquarters", "MeetingRoomNum": "TBD"},
    "deviceTemplates": {
        "Satisfied": {
            "deviceType": "button",
            "callbackOverrides": {"onClickCallback": SAT_LAMBDA},
        },
        "Unsatisfied": {
            "deviceType": "button",
            "callbackOverrides": {"onClickCallback": UNSAT_LAMBDA},
        },
    },
}

ISO_MS = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}

DEVICE_INFO = {
    "type": "object",
    "required": ["attributes", "type", "deviceId", "remainingLife"],
    "additionalProperties": False,
    "properties": {
        "attributes": STRING_MAP,
        "type": {"const": "button"},
        "deviceId": {"type": "string", "pattern": "^[A-Z0-9]{6}[A-Za-z0-9]+$"},
        "remainingLife": {"type": "number", "minimum": 0, "maximum": 100},
    },
}

CLICK_EVENT_SCHEMA = {
    "type": "object",
    "required": ["deviceEvent", "deviceInfo"],
    "additionalProperties": False,
    "properties": {
        "deviceEvent": {
            "type": "object",
            "required": ["buttonClicked"],
            "additionalProperties": False,
            "properties": {
                "buttonClicked": {
                    "type": "object",
                    "required": ["clickType", "reportedTime"],
                    "additionalProperties": False,
                    "properties": {
                        "clickType": {"enum": ["SINGLE", "DOUBLE", "LONG"]},
                        "reportedTime": {"type": "string", "pattern": ISO_MS},
                    },
                }
            },
        },
        "deviceInfo": DEVICE_INFO,
        "placementInfo": {
            "type": "object",
            "required": ["projectName", "placementName", "attributes", "devices"],
            "additionalProperties": False,
            "properties": {
                "projectName": {"type": "string"},
                "placementName": {"type": "string"},
                "attributes": STRING_MAP,
                "devices": STRING_MAP,
            },
        },
    },
}

HEALTH_EVENT_SCHEMA = {
    "type": "object",
    "required": ["deviceEvent", "deviceInfo"],
    "additionalProperties": False,
    "properties": {
        "deviceEvent": {
            "type": "object",
            "required": ["deviceHealthMonitor"],
            "additionalProperties": False,
            "properties": {
                "deviceHealthMonitor": {
                    "type": "object",
                    "required": ["condition"],
                    "properties": {
                        "condition": {
                            "type": "object",
                            "required": ["remainingLifeLowerThan"],
                            "properties": {"remainingLifeLowerThan": {"type": "number"}},
                        }
                    },
                }
            },
        },
        "deviceInfo": DEVICE_INFO,
    },
}

STD_EVENT_SCHEMA = {
    "type": "object",
    "required": ["clickType", "reportedTime", "certificateId", "remainingLife", "testMode"],
    "additionalProperties": False,
    "properties": {
        "clickType": {"enum": ["SINGLE", "DOUBLE", "LONG"]},
        "reportedTime": {"type": "string", "pattern": ISO_MS},
        "certificateId": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "remainingLife": {"type": "number"},
        "testMode": {"const": False},
    },
}

# The Developer Guide's click example, NORMALIZED (closing brace; the padded deviceId trimmed):
# the schema must accept the documented payload itself.
GUIDE_CLICK_EXAMPLE = {
    "deviceEvent": {
        "buttonClicked": {"clickType": "SINGLE", "reportedTime": "2018-05-04T23:26:33.747Z"}
    },
    "deviceInfo": {
        "attributes": {"key3": "value3", "key1": "value1", "key4": "value4"},
        "type": "button",
        "deviceId": "G030PMXXXXXXXXXX",
        "remainingLife": 5.00,
    },
    "placementInfo": {
        "projectName": "test",
        "placementName": "myPlacement",
        "attributes": {"location": "Seattle", "equipment": "printer"},
        "devices": {"myButton": "G030PMXXXXXXXXXX"},
    },
}
GUIDE_HEALTH_EXAMPLE = {
    "deviceEvent": {"deviceHealthMonitor": {"condition": {"remainingLifeLowerThan": 10}}},
    "deviceInfo": {
        "attributes": {"key2": "value2", "key1": "value1", "projectRegion": "us-west-2"},
        "type": "button",
        "deviceId": "G030PMXXXXXXXXXX",
        "remainingLife": 5.4,
    },
}


def check_click_payload(payload: dict[str, Any]) -> None:
    jsonschema.validate(payload, CLICK_EVENT_SCHEMA)


def check_health_payload(payload: dict[str, Any]) -> None:
    jsonschema.validate(payload, HEALTH_EVENT_SCHEMA)


def check_std_event(text: str) -> dict[str, Any]:
    event = json.loads(text)
    jsonschema.validate(event, STD_EVENT_SCHEMA)
    return event


class RecordingInvoker:
    """A FunctionInvoker that keeps every (arn, event) it is asked to invoke."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._changed = threading.Condition()

    def invoke_event(self, function_arn: str, event: dict[str, Any]) -> None:
        with self._changed:
            self.calls.append((function_arn, json.loads(json.dumps(event))))
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[tuple[str, dict[str, Any]]]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.calls) >= count, timeout):
                raise TimeoutError(f"{len(self.calls)} of {count} callbacks: {self.calls}")
            return list(self.calls)


def iso_now(offset_ms: int = 0) -> str:
    moment = time.time() + offset_ms / 1000
    stamp = datetime.fromtimestamp(moment, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(moment * 1000) % 1000:03d}Z"


def click_message(serial: str, click_type: str = "SINGLE", reported: str | None = None) -> bytes:
    """A click message as firmware/outbox.py sends it on iotbutton/<serial>."""
    return json.dumps(
        {
            "serialNumber": serial,
            "batteryVoltage": "2950mV",
            "clickType": click_type,
            "reportedTime": reported or iso_now(),
            "eventId": secrets.token_hex(8),
        }
    ).encode()
