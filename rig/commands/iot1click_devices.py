"""`buttonrig iot1click-devices …`: aws iot1click-devices against the reference cloud's 1-Click
layer (rig/cloud/oneclick/devices.py), with aws-cli's option names and the devices API's
UpperCamel members (`--cli-input-json` takes `{"DeviceId": …}`, as the CLI page's files).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rig.commands.awscli import Operation, Param, add_operations
from rig.commands.shapes import STRING, map_of, structure


@dataclass(frozen=True)
class Member(Param):
    """An option whose API member is UpperCamel (`--device-id` → `DeviceId`), as in the
    iot1click-devices API (botocore iot1click-devices 2018-05-14)."""

    @property
    def member(self) -> str:
        return "".join(word.capitalize() for word in self.flag.lstrip("-").split("-"))


DEVICE = Member("--device-id", required=True)
TAGS = Member("--tags", "structure", shape=map_of(STRING))
RESOURCE = Member("--resource-arn", required=True)
PAGE = (Member("--max-results", "integer"), Member("--next-token"))
DEVICE_METHOD = structure(DeviceType=STRING, MethodName=STRING)


def _devices(name: str) -> Any:
    return lambda cloud, kw: getattr(cloud.oneclick.devices, name)(**kw)


OPERATIONS = [
    Operation(
        "initiate-device-claim",
        "InitiateDeviceClaim",
        (DEVICE,),
        _devices("initiate_device_claim"),
        help="start claiming a device; press it, then finalize-device-claim",
    ),
    Operation(
        "finalize-device-claim",
        "FinalizeDeviceClaim",
        (DEVICE, TAGS),
        _devices("finalize_device_claim"),
        help="complete the claim: the device must have been pressed since initiate-device-claim",
    ),
    Operation(
        "claim-devices-by-claim-code",
        "ClaimDevicesByClaimCode",
        (Member("--claim-code", required=True),),
        _devices("claim_devices_by_claim_code"),
    ),
    Operation("unclaim-device", "UnclaimDevice", (DEVICE,), _devices("unclaim_device")),
    Operation("describe-device", "DescribeDevice", (DEVICE,), _devices("describe_device")),
    Operation(
        "list-devices",
        "ListDevices",
        (Member("--device-type"), *PAGE),
        _devices("list_devices"),
    ),
    Operation(
        "update-device-state",
        "UpdateDeviceState",
        (DEVICE, Member("--enabled", "boolean")),
        _devices("update_device_state"),
        help="--enabled / --no-enabled",
    ),
    Operation("get-device-methods", "GetDeviceMethods", (DEVICE,), _devices("get_device_methods")),
    Operation(
        "invoke-device-method",
        "InvokeDeviceMethod",
        (
            DEVICE,
            Member("--device-method", "structure", shape=DEVICE_METHOD),
            Member("--device-method-parameters", "text"),
        ),
        _devices("invoke_device_method"),
        help="e.g. --device-method DeviceType=device,MethodName=getDeviceHealthParameters",
    ),
    Operation(
        "list-device-events",
        "ListDeviceEvents",
        (
            DEVICE,
            Member("--from-time-stamp", required=True),
            Member("--to-time-stamp", required=True),
            *PAGE,
        ),
        _devices("list_device_events"),
        help="events whose reportedTime lies in the window, oldest first",
    ),
    Operation(
        "tag-resource",
        "TagResource",
        (RESOURCE, Member("--tags", "structure", required=True, shape=map_of(STRING))),
        _devices("tag_resource"),
    ),
    Operation(
        "untag-resource",
        "UntagResource",
        (RESOURCE, Member("--tag-keys", "list", required=True)),
        _devices("untag_resource"),
    ),
    Operation(
        "list-tags-for-resource",
        "ListTagsForResource",
        (RESOURCE,),
        _devices("list_tags_for_resource"),
    ),
]


def register(subparsers: Any) -> None:
    add_operations(
        subparsers,
        "iot1click-devices",
        "AWS IoT 1-Click devices (aws iot1click-devices …): claim, enable, methods, events",
        OPERATIONS,
    )
