"""`buttonrig iot1click-projects …`: aws iot1click-projects against the reference cloud's 1-Click
layer (rig/cloud/oneclick/projects.py), with aws-cli's option names and the projects API's
lowerCamel members (`--cli-input-json` takes `{"projectName": …}`, as the CLI page's files).
"""

from __future__ import annotations

from typing import Any

from rig.commands.awscli import Operation, Param, add_operations
from rig.commands.shapes import STRING, map_of, structure

PROJECT = Param("--project-name", required=True)
PLACEMENT = Param("--placement-name", required=True)
TEMPLATE = Param("--device-template-name", required=True)
ATTRIBUTES = Param("--attributes", "structure", shape=map_of(STRING))
TAGS = Param("--tags", "structure", shape=map_of(STRING))
RESOURCE = Param("--resource-arn", required=True)
PAGE = (Param("--max-results", "integer"), Param("--next-token"))
DEVICE_TEMPLATE = structure(deviceType=STRING, callbackOverrides=map_of(STRING))
PLACEMENT_TEMPLATE = structure(
    defaultAttributes=map_of(STRING), deviceTemplates=map_of(DEVICE_TEMPLATE)
)


def _projects(name: str) -> Any:
    return lambda cloud, kw: getattr(cloud.oneclick.projects, name)(**kw)


def _template() -> Param:
    return Param("--placement-template", "structure", shape=PLACEMENT_TEMPLATE)


OPERATIONS = [
    Operation(
        "create-project",
        "CreateProject",
        (PROJECT, Param("--description"), _template(), TAGS),
        _projects("create_project"),
    ),
    Operation(
        "update-project",
        "UpdateProject",
        (PROJECT, Param("--description"), _template()),
        _projects("update_project"),
        help='only what is given changes; "" clears a value; no device template can be added',
    ),
    Operation("describe-project", "DescribeProject", (PROJECT,), _projects("describe_project")),
    Operation("list-projects", "ListProjects", PAGE, _projects("list_projects")),
    Operation(
        "delete-project",
        "DeleteProject",
        (PROJECT,),
        _projects("delete_project"),
        help="a project without placements",
    ),
    Operation(
        "create-placement",
        "CreatePlacement",
        (PROJECT, PLACEMENT, ATTRIBUTES),
        _projects("create_placement"),
    ),
    Operation(
        "update-placement",
        "UpdatePlacement",
        (PROJECT, PLACEMENT, ATTRIBUTES),
        _projects("update_placement"),
        help='given attributes replace, "" clears one',
    ),
    Operation(
        "describe-placement",
        "DescribePlacement",
        (PROJECT, PLACEMENT),
        _projects("describe_placement"),
    ),
    Operation("list-placements", "ListPlacements", (PROJECT, *PAGE), _projects("list_placements")),
    Operation(
        "delete-placement",
        "DeletePlacement",
        (PROJECT, PLACEMENT),
        _projects("delete_placement"),
        help="a placement without devices",
    ),
    Operation(
        "associate-device-with-placement",
        "AssociateDeviceWithPlacement",
        (PROJECT, PLACEMENT, Param("--device-id", required=True), TEMPLATE),
        _projects("associate_device_with_placement"),
    ),
    Operation(
        "disassociate-device-from-placement",
        "DisassociateDeviceFromPlacement",
        (PROJECT, PLACEMENT, TEMPLATE),
        _projects("disassociate_device_from_placement"),
    ),
    Operation(
        "get-devices-in-placement",
        "GetDevicesInPlacement",
        (PROJECT, PLACEMENT),
        _projects("get_devices_in_placement"),
    ),
    Operation(
        "tag-resource",
        "TagResource",
        (RESOURCE, Param("--tags", "structure", required=True, shape=map_of(STRING))),
        _projects("tag_resource"),
    ),
    Operation(
        "untag-resource",
        "UntagResource",
        (RESOURCE, Param("--tag-keys", "list", required=True)),
        _projects("untag_resource"),
    ),
    Operation(
        "list-tags-for-resource",
        "ListTagsForResource",
        (RESOURCE,),
        _projects("list_tags_for_resource"),
    ),
]


def register(subparsers: Any) -> None:
    add_operations(
        subparsers,
        "iot1click-projects",
        "AWS IoT 1-Click projects (aws iot1click-projects …): projects, placements, devices",
        OPERATIONS,
    )
