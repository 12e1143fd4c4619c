"""The JSON of "Using AWS IoT 1-Click with the AWS CLI" (the dumpster walkthrough), as printed
there, and `shape()` to compare our output with it: the same keys at every level and the same
kinds of values (the seed's ARNs, account, region, dates and serial are AWS's, not ours)."""

from __future__ import annotations

from typing import Any

SERIAL = "G030PM0123456789"
DEVICE_ARN = f"arn:aws:iot1click:us-west-2:012345678901:devices/{SERIAL}"
PROJECT_ARN = "arn:aws:iot1click:us-west-2:012345678901:projects/SeattleDumpsters"

CREATE_PROJECT_JSON = {
    "projectName": "SeattleDumpsters",
    "description": "All dumpsters in the Seattle region.",
    "placementTemplate": {
        "defaultAttributes": {"City": "Seattle"},
        "deviceTemplates": {"empty-dumpster-request": {"deviceType": "button"}},
    },
}
ATTRIBUTES = {
    "projectRegion": "us-west-2",
    "projectName": "SeattleDumpsters",
    "placementName": "customer217",
    "deviceTemplateName": "empty-dumpster-request",
}
LIST_PROJECTS = {
    "projects": [
        {
            "arn": PROJECT_ARN,
            "projectName": "SeattleDumpsters",
            "createdDate": 1563483100,
            "updatedDate": 1563483100,
            "tags": {},
        }
    ]
}
DESCRIBE_PROJECT = {
    "project": {
        "arn": PROJECT_ARN,
        "projectName": "SeattleDumpsters",
        "description": "All dumpsters in the Seattle region.",
        "createdDate": 1563483100,
        "updatedDate": 1563483100,
        "placementTemplate": {
            "defaultAttributes": {"City": "Seattle"},
            "deviceTemplates": {
                "empty-dumpster-request": {"deviceType": "button", "callbackOverrides": {}}
            },
        },
        "tags": {},
    }
}
LIST_PLACEMENTS = {
    "placements": [
        {
            "projectName": "SeattleDumpsters",
            "placementName": "customer217",
            "createdDate": 1563488454,
            "updatedDate": 1563488454,
        }
    ]
}
DESCRIBE_PLACEMENT = {
    "placement": {
        "projectName": "SeattleDumpsters",
        "placementName": "customer217",
        "attributes": {"phone": "206-123-4567", "location": "1800 9th Ave Seattle, WA 98101"},
        "createdDate": 1563488454,
        "updatedDate": 1563488454,
    }
}
DESCRIBE_DEVICE = {
    "DeviceDescription": {
        "Arn": DEVICE_ARN,
        "Attributes": ATTRIBUTES,
        "DeviceId": SERIAL,
        "Enabled": False,
        "RemainingLife": 99.9,
        "Type": "button",
        "Tags": {},
    }
}
LIST_DEVICE_EVENTS = {
    "Events": [
        {
            "Device": {"Attributes": {}, "DeviceId": SERIAL, "Type": "button"},
            "StdEvent": '{"clickType": "SINGLE", "reportedTime": "2019-07-18T23:47:55.015Z",'
            ' "certificateId": "fe8798a6c97c62ef8756b80eeefdcf2280f3352f82faa8080c74cc4f4a4d1811",'
            ' "remainingLife": 99.85000000000001, "testMode": false}',
        }
    ]
}
GET_DEVICE_METHODS = {
    "DeviceMethods": [
        {"MethodName": "getDeviceHealthParameters"},
        {"MethodName": "setDeviceHealthMonitorCallback"},
        {"MethodName": "getDeviceHealthMonitorCallback"},
        {"MethodName": "setOnClickCallback"},
        {"MethodName": "getOnClickCallback"},
    ]
}
INVOKE_HEALTH_JSON = {
    "DeviceId": SERIAL,
    "DeviceMethod": {"DeviceType": "device", "MethodName": "getDeviceHealthParameters"},
}
INVOKE_HEALTH = {"DeviceMethodResponse": '{"remainingLife": 99.8}'}
INVALID_PARAMETER = (
    "An error occurred (InvalidRequestException) when calling the InvokeDeviceMethod operation:"
    " A request parameter was invalid."
)
PROJECT_TAGS_JSON = {
    "resourceArn": PROJECT_ARN,
    "tags": {"Account": "45215", "Manager": "Tom Jones"},
}
DEVICE_TAGS_JSON = {
    "ResourceArn": DEVICE_ARN,
    "Tags": {"Driver": "John Smith", "Driver Phone": "206-123-4567"},
}
UPDATE_PLACEMENT_JSON = {
    "projectName": "SeattleDumpsters",
    "placementName": "customer217",
    "attributes": {"phone": "206-266-1000", "location": "410 Terry Ave N Seattle, WA 98109"},
}


def shape(value: Any) -> Any:
    """Keys kept, values reduced to their kind; a JSON string (StdEvent, DeviceMethodResponse)
    is compared by the shape of what it encodes."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str) and value.startswith("{"):
        import json

        return {"json": shape(json.loads(value))}
    return "string"
