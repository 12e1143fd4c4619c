"""The 1-Click model's pure rules: device ids, names and limits, remainingLife, device methods,
and the payloads (StdEvent, click and health callbacks).

No database, no MQTT. Limits and name patterns are botocore's iot1click-projects 2018-05-14
model (service-2.json); the rest cites the AWS IoT 1-Click Developer Guide and "Using AWS IoT
1-Click with the AWS CLI", or is one of our decisions (docs/cloud-decisions.md, C-n).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rig.cloud.core.errors import CloudError, InvalidRequestException

# ---- errors the iot1click APIs have and the IoT core model does not ----------------------------


class PreconditionFailedException(CloudError):
    code, http_status = "PreconditionFailedException", 412


class ResourceConflictException(CloudError):
    code, http_status = "ResourceConflictException", 409


class RangeNotSatisfiableException(CloudError):
    code, http_status = "RangeNotSatisfiableException", 416


# ---- devices ------------------------------------------------------------------------------------

DEVICE_TYPE = "button"


@dataclass(frozen=True)
class Product:
    name: str
    by_claim_code: bool  # Supported Devices table: "To claim device"


# Developer Guide, "AWS IoT 1-Click Supported Devices": the first 6 characters of the serial
PRODUCTS = {
    "G030PM": Product("AWS IoT Enterprise Button", by_claim_code=False),
    "B9GHXT": Product("AT&T LTE-M Button", by_claim_code=True),
}
UNSUPPORTED_PREFIXES = ("G030JF", "G030MD", "G030PT")  # the guide's note: classic IoT buttons
_DEVICE_ID = re.compile(r"^[A-Z0-9]{6}[A-Za-z0-9]{1,26}$")  # DeviceId max 32 (botocore)

# C-5: the rating. The guide's RemainingLife example ("designed to last for approximately 2000
# clicks, and 500 clicks have been recorded ... 75%") and the 0.05 steps of the CLI page's data.
RATED_CLICKS = 2000

UNCLAIMED, CLAIM_INITIATED, CLAIMED = "UNCLAIMED", "CLAIM_INITIATED", "CLAIMED"


def product_of(device_id: str) -> Product | None:
    """The 1-Click product a serial belongs to; None when 1-Click does not know the prefix."""
    return PRODUCTS.get(device_id[:6]) if _DEVICE_ID.match(device_id) else None


def check_device_id(device_id: str) -> Product:
    """The product, or InvalidRequestException saying why 1-Click cannot use this id."""
    if device_id[:6] in UNSUPPORTED_PREFIXES:
        raise InvalidRequestException(
            f"device {device_id}: AWS IoT 1-Click does not support buttons whose serial begins"
            f" with {device_id[:6]}"
        )
    product = product_of(device_id)
    if product is None:
        raise InvalidRequestException(
            f"device {device_id}: not a 1-Click device id (serials begin with"
            f" {' or '.join(PRODUCTS)})"
        )
    return product


def remaining_life(clicks: int) -> float:
    """Percent of the rated clicks left after `clicks` recorded clicks (C-5), never below 0."""
    return max(0.0, 100.0 * (RATED_CLICKS - clicks) / RATED_CLICKS)


# ---- device methods (Developer Guide, "Device Methods"; order as get-device-methods) -----------

METHODS: tuple[tuple[str, str], ...] = (
    ("getDeviceHealthParameters", "device"),
    ("setDeviceHealthMonitorCallback", "device"),
    ("getDeviceHealthMonitorCallback", "device"),
    ("setOnClickCallback", "button"),
    ("getOnClickCallback", "button"),
)
METHOD_TYPES: dict[str, str] = dict(METHODS)
BAD_PARAMETER = "A request parameter was invalid."  # the CLI page's InvalidRequestException text


def method_parameters(method: str, device_type: str | None, parameters: str | None) -> Any:
    """The parsed DeviceMethodParameters of a call, checked (C-7); InvalidRequestException with
    the CLI page's text for parameters given to a get method."""
    expected_type = METHOD_TYPES.get(method)
    if expected_type is None:
        raise InvalidRequestException(
            f"unknown device method {method!r}: one of {', '.join(METHOD_TYPES)}"
        )
    if device_type is not None and device_type != expected_type:
        raise InvalidRequestException(
            f"{method} is a method of device type {expected_type!r}, not {device_type!r}"
        )
    if method.startswith("get"):
        if parameters is not None:  # even "": the CLI page's note
            raise InvalidRequestException(BAD_PARAMETER)
        return None
    try:
        parsed = json.loads(parameters or "")
    except ValueError:
        raise InvalidRequestException(
            f"{BAD_PARAMETER} {method} takes DeviceMethodParameters, a JSON string such as"
            ' {"callback": {"awsLambdaArn": "arn:aws:lambda:..."}}'
        ) from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("callback"), dict):
        raise InvalidRequestException(f"{BAD_PARAMETER} {method}: expected a callback object")
    arn = parsed["callback"].get("awsLambdaArn")
    if arn is not None and not (isinstance(arn, str) and 0 < len(arn) <= 200):
        raise InvalidRequestException(f"{BAD_PARAMETER} callback.awsLambdaArn: 1-200 characters")
    if method == "setDeviceHealthMonitorCallback":
        condition = parsed.get("condition", {})
        threshold = condition.get("remainingLifeLowerThan") if isinstance(condition, dict) else 0
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not 0 < threshold <= 100
        ):
            raise InvalidRequestException(
                f"{BAD_PARAMETER} condition.remainingLifeLowerThan: a number in (0, 100]"
            )
    return parsed


# ---- projects and placements: botocore iot1click-projects limits --------------------------------

MAX_PROJECTS = 512  # Developer Guide, "AWS IoT 1-Click Service Limits"
MAX_DEVICE_TEMPLATES = 5  # the same: "5 device templates per placement template"
MAX_ATTRIBUTES = 50  # UpdatePlacement: "The maximum number of key/value pairs is 50"
MAX_TAGS = 50
_NAME = re.compile(r"^[0-9A-Za-z_-]{1,128}$")  # ProjectName, PlacementName, DeviceTemplateName
_TAG_KEY = re.compile(r"^(?!aws:)[a-zA-Z+\-=._:/ 0-9]{1,128}$")


def check_name(what: str, name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidRequestException(
            f"{what} {name!r}: 1-128 characters of letters, digits, '_' and '-'"
        )
    return name


def check_attributes(what: str, attributes: Any, value_max: int = 800) -> dict[str, str]:
    """A string → string map within botocore's AttributeName/AttributeValue limits."""
    if not isinstance(attributes, dict):
        raise InvalidRequestException(f"{what}: expected an object of string values")
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidRequestException(
            f"{what}: {len(attributes)} attributes, at most {MAX_ATTRIBUTES}"
        )
    for key, value in attributes.items():
        if not 1 <= len(key) <= 128:
            raise InvalidRequestException(f"{what}: attribute name {key[:40]!r}: 1-128 characters")
        if not isinstance(value, str):
            raise InvalidRequestException(f"{what}.{key}: expected a string, got {value!r}")
        if len(value) > value_max:
            raise InvalidRequestException(
                f"{what}.{key}: {len(value)} characters, at most {value_max}"
            )
    return dict(attributes)


def check_description(description: Any) -> str:
    if not isinstance(description, str) or len(description) > 500:
        raise InvalidRequestException("description: a string of at most 500 characters")
    return description


def check_device_templates(templates: Any) -> dict[str, dict[str, Any]]:
    """deviceTemplates with `callbackOverrides` filled in ({} when absent, as the CLI page's
    describe-project shows)."""
    if not isinstance(templates, dict):
        raise InvalidRequestException("deviceTemplates: expected an object")
    if len(templates) > MAX_DEVICE_TEMPLATES:
        raise InvalidRequestException(
            f"deviceTemplates: {len(templates)} device templates, at most"
            f" {MAX_DEVICE_TEMPLATES} per placement template (AWS IoT 1-Click service limit)"
        )
    checked: dict[str, dict[str, Any]] = {}
    for name, template in templates.items():
        check_name("device template name", name)
        if not isinstance(template, dict):
            raise InvalidRequestException(f"deviceTemplates.{name}: expected an object")
        checked[name] = {
            "deviceType": check_device_type(name, template.get("deviceType", DEVICE_TYPE)),
            "callbackOverrides": check_callbacks(name, template.get("callbackOverrides", {})),
        }
    return checked


def check_device_type(template: str, device_type: Any) -> str:
    if device_type != DEVICE_TYPE:  # botocore: "The device type, which currently must be button"
        raise InvalidRequestException(
            f"deviceTemplates.{template}.deviceType: must be {DEVICE_TYPE!r}, got {device_type!r}"
        )
    return DEVICE_TYPE


def check_callbacks(template: str, callbacks: Any) -> dict[str, str]:
    if not isinstance(callbacks, dict):
        raise InvalidRequestException(f"deviceTemplates.{template}.callbackOverrides: an object")
    for key, value in callbacks.items():
        if not 1 <= len(key) <= 128 or not isinstance(value, str) or len(value) > 200:
            raise InvalidRequestException(
                f"deviceTemplates.{template}.callbackOverrides.{key[:40]}: a string key of 1-128"
                " characters and a function ARN of at most 200"
            )
    return dict(callbacks)


def check_tags(tags: Any) -> dict[str, str]:
    if not isinstance(tags, dict) or not 1 <= len(tags) <= MAX_TAGS:
        raise InvalidRequestException(f"tags: an object of 1-{MAX_TAGS} string values")
    for key, value in tags.items():
        if not _TAG_KEY.match(key):
            raise InvalidRequestException(f"tag key {key[:40]!r}: 1-128 characters, not aws:")
        if not isinstance(value, str) or len(value) > 256:
            raise InvalidRequestException(f"tag {key}: a string value of at most 256 characters")
    return dict(tags)


def merged(current: dict[str, str], update: dict[str, str]) -> dict[str, str]:
    """UpdatePlacement / UpdateProject: given keys replace, "" clears one (botocore's doc)."""
    result = {**current, **update}
    return {key: value for key, value in result.items() if value != ""}


# ---- times -------------------------------------------------------------------------------------


def iso_ms(epoch_ms: int) -> str:
    """2019-07-18T23:47:55.015Z, the StdEvent's reportedTime form."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def parse_time(what: str, text: Any) -> int:
    """An ISO 8601 time (the CLI page's 2019-07-17T15:45:12.880Z form) as epoch ms."""
    if not isinstance(text, str):
        raise InvalidRequestException(f"{what}: expected an ISO 8601 time")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequestException(
            f"{what}: {text!r} is not an ISO 8601 time such as 2019-07-17T15:45:12.880Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


# ---- payloads ------------------------------------------------------------------------------------


def std_event(
    click_type: str, reported_time: str, certificate_id: str, life: float
) -> dict[str, Any]:
    """list-device-events' StdEvent keys, in the CLI page's order (testMode: C-6)."""
    return {
        "clickType": click_type,
        "reportedTime": reported_time,
        "certificateId": certificate_id,
        "remainingLife": life,
        "testMode": False,
    }


def device_info(device_id: str, attributes: dict[str, str], life: float) -> dict[str, Any]:
    return {
        "attributes": attributes,
        "type": DEVICE_TYPE,
        "deviceId": device_id,
        "remainingLife": life,
    }


def click_payload(
    click_type: str,
    reported_time: str,
    info: dict[str, Any],
    placement: dict[str, Any] | None,
) -> dict[str, Any]:
    """Developer Guide, "AWS IoT 1-Click Click Events": placementInfo only when placed."""
    payload: dict[str, Any] = {
        "deviceEvent": {"buttonClicked": {"clickType": click_type, "reportedTime": reported_time}},
        "deviceInfo": info,
    }
    if placement is not None:
        payload["placementInfo"] = placement
    return payload


def health_payload(threshold: float, info: dict[str, Any]) -> dict[str, Any]:
    """Developer Guide, "AWS IoT 1-Click Health Events" (no placementInfo, as its example)."""
    return {
        "deviceEvent": {
            "deviceHealthMonitor": {"condition": {"remainingLifeLowerThan": threshold}}
        },
        "deviceInfo": info,
    }
