"""1-Click projects and placements on the cloud model: the CLI page's shapes and timestamp rules,
the documented limits, and bad input that changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rig.cloud.api import Cloud
from rig.cloud.core.errors import CloudError
from rig.cloud.oneclick.projects import Projects

# "Using AWS IoT 1-Click with the AWS CLI": create-project.json
CREATE_PROJECT = {
    "project_name": "SeattleDumpsters",
    "description": "All dumpsters in the Seattle region.",
    "placement_template": {
        "defaultAttributes": {"City": "Seattle"},
        "deviceTemplates": {"empty-dumpster-request": {"deviceType": "button"}},
    },
}
CUSTOMER_217 = {"location": "1800 9th Ave Seattle, WA 98101", "phone": "206-123-4567"}


class Clock:
    def __init__(self) -> None:
        self.now = 1563483100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    api = Cloud(tmp_path)
    yield api
    api.close()


@pytest.fixture
def clock(cloud: Cloud) -> Clock:
    clock = Clock()
    cloud.oneclick.projects.clock = clock
    return clock


def error_code(call, *args, **kwargs) -> str:
    with pytest.raises(CloudError) as caught:
        call(*args, **kwargs)
    return caught.value.code


def test_project_and_placement_shapes_and_dates(cloud: Cloud, clock: Clock) -> None:
    projects = cloud.oneclick.projects
    assert projects.create_project(**CREATE_PROJECT) == {}
    listed = projects.list_projects()["projects"]
    assert [set(p) for p in listed] == [
        {"arn", "projectName", "createdDate", "updatedDate", "tags"}
    ]
    described = projects.describe_project("SeattleDumpsters")["project"]
    assert described == {
        "arn": listed[0]["arn"],
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
    assert described["arn"].startswith("arn:aws:iot1click:")
    assert described["arn"].endswith(":projects/SeattleDumpsters")
    clock.now = 1563488454
    projects.create_placement("SeattleDumpsters", "customer217", CUSTOMER_217)
    assert projects.list_placements("SeattleDumpsters") == {
        "placements": [
            {
                "projectName": "SeattleDumpsters",
                "placementName": "customer217",
                "createdDate": 1563488454,
                "updatedDate": 1563488454,
            }
        ]
    }
    assert projects.get_devices_in_placement("SeattleDumpsters", "customer217") == {"devices": {}}
    clock.now = 1563572842
    update = {"phone": "206-266-1000", "location": "410 Terry Ave N Seattle, WA 98109"}
    projects.update_placement("SeattleDumpsters", "customer217", update)
    assert projects.describe_placement("SeattleDumpsters", "customer217") == {
        "placement": {
            "projectName": "SeattleDumpsters",
            "placementName": "customer217",
            "attributes": update,
            "createdDate": 1563488454,
            "updatedDate": 1563572842,
        }
    }
    clock.now = 1563819039
    new_text = "All dumpsters (yard waste, recycling, garbage) in the Seattle region."
    projects.update_project("SeattleDumpsters", description=new_text)
    after = projects.describe_project("SeattleDumpsters")["project"]
    assert (after["description"], after["createdDate"], after["updatedDate"]) == (
        new_text,
        1563483100,
        1563819039,
    )
    assert after["placementTemplate"] == described["placementTemplate"]
    clock.now = 1563999999
    projects.tag_resource(after["arn"], {"Account": "45215", "Manager": "Tom Jones"})
    assert projects.list_tags_for_resource(after["arn"]) == {
        "tags": {"Manager": "Tom Jones", "Account": "45215"}
    }
    tagged = projects.describe_project("SeattleDumpsters")["project"]
    tags = {"Manager": "Tom Jones", "Account": "45215"}
    assert (tagged["updatedDate"], tagged["tags"]) == (1563819039, tags)
    projects.untag_resource(after["arn"], ["Manager"])
    assert projects.describe_project("SeattleDumpsters")["project"]["tags"] == {"Account": "45215"}
    projects.delete_placement("SeattleDumpsters", "customer217")
    assert projects.list_placements("SeattleDumpsters") == {"placements": []}
    projects.delete_project("SeattleDumpsters")
    assert projects.list_projects() == {"projects": []}


def test_update_placement_merges_and_an_empty_value_clears(cloud: Cloud) -> None:
    projects = cloud.oneclick.projects
    projects.create_project(**CREATE_PROJECT)
    projects.create_placement("SeattleDumpsters", "p1", {"a": "1", "b": "2"})
    projects.update_placement("SeattleDumpsters", "p1", {"b": "", "c": "3"})
    got = projects.describe_placement("SeattleDumpsters", "p1")["placement"]["attributes"]
    assert got == {"a": "1", "c": "3"}


def test_update_project_replaces_callbacks_but_adds_no_template(cloud: Cloud) -> None:
    projects = cloud.oneclick.projects
    projects.create_project(**CREATE_PROJECT)
    arn = "arn:aws:lambda:us-east-1:123456789012:function:pickup"
    projects.update_project(
        "SeattleDumpsters",
        placement_template={
            "deviceTemplates": {
                "empty-dumpster-request": {"callbackOverrides": {"onClickCallback": arn}}
            }
        },
    )
    template = projects.describe_project("SeattleDumpsters")["project"]["placementTemplate"]
    assert template["deviceTemplates"]["empty-dumpster-request"] == {
        "deviceType": "button",
        "callbackOverrides": {"onClickCallback": arn},
    }
    assert template["defaultAttributes"] == {"City": "Seattle"}
    before = projects.describe_project("SeattleDumpsters")
    bad = {"deviceTemplates": {"new-one": {"deviceType": "button"}}}
    assert error_code(projects.update_project, "SeattleDumpsters", placement_template=bad) == (
        "InvalidRequestException"
    )
    assert projects.describe_project("SeattleDumpsters") == before


def templates(n: int) -> dict[str, dict[str, str]]:
    return {f"t{i}": {"deviceType": "button"} for i in range(n)}


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        pytest.param({"project_name": "has space"}, "InvalidRequestException", id="name"),
        pytest.param({"project_name": "x" * 129}, "InvalidRequestException", id="long-name"),
        pytest.param(
            {"project_name": "p", "placement_template": {"deviceTemplates": templates(6)}},
            "InvalidRequestException",
            id="six-templates",
        ),
        pytest.param(
            {"project_name": "p", "placement_template": {"defaultAttributes": {"k": "v" * 801}}},
            "InvalidRequestException",
            id="oversize-attribute",
        ),
        pytest.param(
            {
                "project_name": "p",
                "placement_template": {"deviceTemplates": {"t": {"deviceType": "lamp"}}},
            },
            "InvalidRequestException",
            id="device-type",
        ),
        pytest.param(
            {"project_name": "p", "description": "d" * 501},
            "InvalidRequestException",
            id="description",
        ),
        pytest.param(
            {"project_name": "p", "tags": {"aws:k": "v"}}, "InvalidRequestException", id="aws-tag"
        ),
    ],
)
def test_bad_projects_are_refused_and_nothing_is_created(
    cloud: Cloud, kwargs: dict[str, object], code: str
) -> None:
    projects = cloud.oneclick.projects
    assert error_code(projects.create_project, **kwargs) == code
    assert projects.list_projects() == {"projects": []}


def test_five_templates_are_accepted_and_names_are_unique(cloud: Cloud) -> None:
    projects = cloud.oneclick.projects
    projects.create_project("p", placement_template={"deviceTemplates": templates(5)})
    assert error_code(projects.create_project, "p") == "ResourceConflictException"
    projects.create_placement("p", "room1")
    assert error_code(projects.create_placement, "p", "room1") == "ResourceConflictException"
    assert error_code(projects.create_placement, "p", "room2", {"k": "v" * 801}) == (
        "InvalidRequestException"
    )
    assert error_code(projects.create_placement, "nope", "room2") == "ResourceNotFoundException"
    assert error_code(projects.delete_project, "p") == "InvalidRequestException"  # has a placement
    assert [p["placementName"] for p in projects.list_placements("p")["placements"]] == ["room1"]


def test_the_513th_project_is_refused(cloud: Cloud) -> None:
    projects: Projects = cloud.oneclick.projects
    with cloud.store.write() as db:  # 512 projects written at once: the limit, not the speed
        db.executemany(
            "INSERT INTO oneclick_projects (name, description, default_attributes,"
            " device_templates, tags, created_s, updated_s, seq)"
            " VALUES (?, '', '{}', '{}', '{}', 0, 0, ?)",
            [(f"p{i}", i) for i in range(511)],
        )
    projects.create_project("the512th")
    assert error_code(projects.create_project, "the513th") == "InvalidRequestException"
    assert len(projects.list_projects(max_results=250)["projects"]) == 250
    assert "the513th" not in {
        p["projectName"] for p in projects.list_projects(next_token="500")["projects"]
    }
