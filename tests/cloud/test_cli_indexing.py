"""Fleet indexing and dynamic thing groups as a user runs them: the workshop's "Fleet indexing"
steps (seed 004) with `buttonrig iot …`, aws-cli output shapes and errors."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from rig.cloud.api import Cloud
from rig.pytest_plugin.cli_runner import buttonrig as run
from rig.pytest_plugin.cli_runner import buttonrig_json as run_json

FLEET = 200


def _indexing(mode: str) -> tuple[str, ...]:
    """`iot update-indexing-configuration` to the thing indexing configuration `mode`."""
    return ("iot", "update-indexing-configuration", "--thing-indexing-configuration", mode)


def _dynamic_group(name: str, query: str) -> tuple[str, ...]:
    """`iot create-dynamic-thing-group` `name` with the query `query`."""
    return (
        "iot",
        "create-dynamic-thing-group",
        "--thing-group-name",
        name,
        "--query-string",
        query,
    )


def _home(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    path = tmp_path_factory.mktemp(name)
    path.chmod(0o700)
    return path


def _make_fleet(home: Path) -> None:
    """The things the workshop's bulk provisioning made: `bulky0..199`, nothing else yet."""
    cloud = Cloud(home)
    try:
        for number in range(FLEET):
            cloud.create_thing(f"bulky{number}")
    finally:
        cloud.close()


def _fleet_indexing_script(home: Path, base: str = "bulky") -> dict[str, int]:
    """What the workshop's bin/fleet-indexing.py does (its Appendix A.6), through the API as it
    does through boto3: every thing found by `thingName:<base>*` gets a reported temperature
    15..30 and the attribute room_number 100, 101, … (merged)."""
    chooser = random.Random(4)
    temperatures: dict[str, int] = {}
    cloud = Cloud(home)
    try:
        found = cloud.search_index(f"thingName:{base}*")["things"]
        for room, thing in enumerate(found, start=100):
            name = thing["thingName"]
            temperatures[name] = chooser.randint(15, 30)
            reported = {"state": {"reported": {"temperature": temperatures[name]}}}
            cloud.update_thing_shadow(name, json.dumps(reported).encode())
            cloud.update_thing(
                name, attribute_payload={"attributes": {"room_number": str(room)}, "merge": True}
            )
    finally:
        cloud.close()
    return temperatures


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """The fleet after the workshop's fleet-indexing steps: REGISTRY_AND_SHADOW, 200 things
    with rooms and temperatures. Tests that change the mode put it back."""
    home = _home(tmp_path_factory, "fleet")
    _make_fleet(home)
    run(home, *_indexing("thingIndexingMode=REGISTRY_AND_SHADOW"))
    return home, _fleet_indexing_script(home)


def test_workshop_fleet_indexing_section(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Seed 004's "Fleet indexing" steps in order, with the seed's inputs."""
    home = _home(tmp_path_factory, "workshop")
    _make_fleet(home)
    assert run_json(home, "iot", "get-indexing-configuration") == {
        "thingIndexingConfiguration": {
            "thingIndexingMode": "OFF",
            "thingConnectivityIndexingMode": "OFF",
        },
        "thingGroupIndexingConfiguration": {"thingGroupIndexingMode": "OFF"},
    }
    off = run(home, "iot", "search-index", "--query-string", "thingName:bulky*", ok=False)
    assert off.returncode == 255
    assert off.stderr == (
        "buttonrig: An error occurred (ResourceNotFoundException) when calling the SearchIndex"
        " operation: Index AWS_Things does not exist\n"
    )
    assert run_json(home, "iot", "list-indices") == {"indexNames": []}

    updated = run(home, *_indexing("thingIndexingMode=REGISTRY_AND_SHADOW"))
    assert updated.stdout == ""
    configuration = run_json(home, "iot", "get-indexing-configuration")
    assert configuration["thingIndexingConfiguration"]["thingIndexingMode"] == (
        "REGISTRY_AND_SHADOW"
    )
    assert run_json(home, "iot", "describe-index", "--index-name", "AWS_Things") == {
        "indexName": "AWS_Things",
        "indexStatus": "ACTIVE",
        "schema": "REGISTRY_AND_SHADOW",
    }
    assert run_json(home, "iot", "list-indices") == {"indexNames": ["AWS_Things"]}

    temperatures = _fleet_indexing_script(home, "bulky")  # fleet-indexing.py -b bulky
    assert len(temperatures) == FLEET
    everything = run_json(home, "iot", "search-index", "--query-string", "thingName:bulky*")
    assert sorted(t["thingName"] for t in everything["things"]) == sorted(temperatures)
    first = next(t for t in everything["things"] if t["thingName"] == "bulky0")
    assert set(first) == {"thingName", "thingId", "attributes", "shadow"}
    assert first["attributes"] == {"room_number": "100"}  # the first found: name order
    assert isinstance(first["shadow"], str)  # a JSON string, as the API's JsonDocument
    shadow = json.loads(first["shadow"])
    assert shadow["reported"] == {"temperature": temperatures["bulky0"]}
    assert shadow["hasDelta"] is False and shadow["version"] == 1

    warm = run_json(
        home,
        "iot",
        "search-index",
        "--query-string",
        "shadow.reported.temperature>20 AND attributes.room_number:*",
    )
    expected = sorted(name for name, t in temperatures.items() if t > 20)
    assert 0 < len(expected) < FLEET
    assert sorted(t["thingName"] for t in warm["things"]) == expected

    by_both = run_json(
        home,
        "iot",
        "search-index",
        "--index-name",
        "AWS_Things",
        "--query-string",
        "attributes.room_number:[150 TO 199] AND shadow.reported.temperature<=18",
    )
    rooms = {t["thingName"]: int(t["attributes"]["room_number"]) for t in everything["things"]}
    assert sorted(t["thingName"] for t in by_both["things"]) == sorted(
        name for name, t in temperatures.items() if 150 <= rooms[name] <= 199 and t <= 18
    )
    run(home, *_indexing("thingIndexingMode=OFF"))  # the clean-up section
    assert run_json(home, "iot", "list-indices") == {"indexNames": []}


def test_search_pages_with_max_results_and_next_token(
    fleet: tuple[Path, dict[str, int]],
) -> None:
    home, temperatures = fleet
    run(home, *_indexing("thingIndexingMode=REGISTRY"))
    seen: list[str] = []
    token: list[str] = []
    while True:
        page = run_json(
            home,
            "iot",
            "search-index",
            "--query-string",
            "thingName:bulky1*",
            "--max-results",
            "7",
            *token,
        )
        assert len(page["things"]) <= 7
        seen += [t["thingName"] for t in page["things"]]
        if "nextToken" not in page:
            break
        token = ["--next-token", page["nextToken"]]
    assert seen == sorted(n for n in temperatures if n.startswith("bulky1"))
    # REGISTRY: shadows are neither shown nor searchable
    registry_only = run_json(home, "iot", "search-index", "--query-string", "thingName:bulky0")
    assert "shadow" not in registry_only["things"][0]
    none = run_json(home, "iot", "search-index", "--query-string", "shadow.reported.temperature:*")
    assert none["things"] == []
    run(home, *_indexing("thingIndexingMode=REGISTRY_AND_SHADOW"))


@pytest.mark.parametrize(
    "query",
    ["thingName:(bulky", "shadow.reported.temperature>", "thingName:a@b", "AND", "x:[1 TO"],
)
def test_a_query_that_does_not_parse_is_an_invalid_query_exception(
    fleet: tuple[Path, dict[str, int]], query: str
) -> None:
    home, _ = fleet
    result = run(home, "iot", "search-index", "--query-string", query, ok=False)
    assert result.returncode == 255 and result.stdout == ""
    assert result.stderr.startswith(
        "buttonrig: An error occurred (InvalidQueryException) when calling the SearchIndex"
        " operation: "
    )
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_configurations_and_index_names_are_refused(
    fleet: tuple[Path, dict[str, int]],
) -> None:
    home, _ = fleet
    bad_mode = run(home, *_indexing("thingIndexingMode=ALL"), ok=False)
    assert "(InvalidRequestException)" in bad_mode.stderr
    connectivity_without_index = run(
        home, *_indexing("thingIndexingMode=OFF,thingConnectivityIndexingMode=STATUS"), ok=False
    )
    assert "(InvalidRequestException)" in connectivity_without_index.stderr
    other = run(home, "iot", "describe-index", "--index-name", "AWS_ThingGroups", ok=False)
    assert "(ResourceNotFoundException)" in other.stderr
    mode = run_json(home, "iot", "get-indexing-configuration")["thingIndexingConfiguration"]
    assert mode["thingIndexingMode"] == "REGISTRY_AND_SHADOW"  # nothing changed


def test_dynamic_thing_group_follows_registry_and_shadow(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    home = _home(tmp_path_factory, "dynamic")
    run(
        home,
        "iot",
        "create-thing",
        "--thing-name",
        "room1",
        "--attribute-payload",
        '{"attributes": {"floor": "1"}}',
    )
    run(home, "iot", "create-thing", "--thing-name", "room2")
    query = "shadow.reported.temperature>20 AND attributes.floor:1"
    refused = run(home, *_dynamic_group("hot", query), ok=False)
    assert "(ResourceNotFoundException)" in refused.stderr  # indexing is off
    run(home, *_indexing("thingIndexingMode=REGISTRY_AND_SHADOW"))
    bad = run(home, *_dynamic_group("hot", "thingName:("), ok=False)
    assert "(InvalidQueryException)" in bad.stderr
    assert run_json(home, "iot", "list-thing-groups") == {"thingGroups": []}  # none half-made

    created = run_json(home, *_dynamic_group("hot", query))
    assert set(created) == {
        "thingGroupName",
        "thingGroupArn",
        "thingGroupId",
        "indexName",
        "queryString",
        "queryVersion",
    }
    assert created["queryString"] == query and created["indexName"] == "AWS_Things"
    assert created["queryVersion"] == "2017-09-30"
    described = run_json(home, "iot", "describe-thing-group", "--thing-group-name", "hot")
    assert described["queryString"] == query and described["status"] == "ACTIVE"

    def members() -> list[str]:
        return run_json(home, "iot", "list-things-in-thing-group", "--thing-group-name", "hot")[
            "things"
        ]

    assert members() == []
    payload = '{"state": {"reported": {"temperature": 25}}}'
    for thing in ("room1", "room2"):
        run(
            home,
            "iot-data",
            "update-thing-shadow",
            "--thing-name",
            thing,
            "--cli-binary-format",
            "raw-in-base64-out",
            "--payload",
            payload,
            str(home / "out.json"),
        )
    assert members() == ["room1"]  # room2 has no floor attribute
    run(
        home,
        "iot",
        "update-thing",
        "--thing-name",
        "room2",
        "--attribute-payload",
        '{"attributes": {"floor": "1"}}',
    )
    assert members() == ["room1", "room2"]
    run(
        home,
        "iot-data",
        "update-thing-shadow",
        "--thing-name",
        "room1",
        "--cli-binary-format",
        "raw-in-base64-out",
        "--payload",
        '{"state": {"reported": {"temperature": 19}}}',
        str(home / "out.json"),
    )
    assert members() == ["room2"]
    groups = run_json(home, "iot", "list-thing-groups-for-thing", "--thing-name", "room2")
    assert [g["groupName"] for g in groups["thingGroups"]] == ["hot"]
    found = run_json(home, "iot", "search-index", "--query-string", "thingGroupNames:hot")
    assert [t["thingName"] for t in found["things"]] == ["room2"]

    # members follow the query, not hands; no hierarchy, no policies (guide)
    by_hand = run(
        home,
        "iot",
        "add-thing-to-thing-group",
        "--thing-group-name",
        "hot",
        "--thing-name",
        "room1",
        ok=False,
    )
    assert "(InvalidRequestException)" in by_hand.stderr
    child = run(
        home,
        "iot",
        "create-thing-group",
        "--thing-group-name",
        "kid",
        "--parent-group-name",
        "hot",
        ok=False,
    )
    assert "(InvalidRequestException)" in child.stderr
    run(
        home,
        "iot",
        "create-policy",
        "--policy-name",
        "p",
        "--policy-document",
        '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "iot:Connect",'
        ' "Resource": "*"}}',
    )
    policy = run(
        home,
        "iot",
        "attach-policy",
        "--policy-name",
        "p",
        "--target",
        created["thingGroupArn"],
        ok=False,
    )
    assert "(InvalidRequestException)" in policy.stderr
    static_delete = run(home, "iot", "delete-thing-group", "--thing-group-name", "hot", ok=False)
    assert "(InvalidRequestException)" in static_delete.stderr
    off = run(home, *_indexing("thingIndexingMode=OFF"), ok=False)
    assert "(InvalidRequestException)" in off.stderr

    # a new query re-evaluates every thing
    assert run_json(
        home,
        "iot",
        "update-dynamic-thing-group",
        "--thing-group-name",
        "hot",
        "--thing-group-properties",
        '{"thingGroupDescription": "warm rooms"}',
        "--query-string",
        "shadow.reported.temperature<20",
    ) == {"version": 2}
    assert members() == ["room1"]
    described = run_json(home, "iot", "describe-thing-group", "--thing-group-name", "hot")
    assert described["thingGroupProperties"]["thingGroupDescription"] == "warm rooms"
    assert described["queryString"] == "shadow.reported.temperature<20"

    # a static group's members the dynamic group's query can see
    run(home, "iot", "create-thing-group", "--thing-group-name", "east")
    run(home, *_dynamic_group("east-dyn", "thingGroupNames:east"))
    run(
        home,
        "iot",
        "add-thing-to-thing-group",
        "--thing-group-name",
        "east",
        "--thing-name",
        "room2",
    )
    assert run_json(home, "iot", "list-things-in-thing-group", "--thing-group-name", "east-dyn")[
        "things"
    ] == ["room2"]

    assert run(home, "iot", "delete-dynamic-thing-group", "--thing-group-name", "hot").stdout == ""
    run(home, "iot", "delete-dynamic-thing-group", "--thing-group-name", "east-dyn")
    wrong = run(home, "iot", "delete-dynamic-thing-group", "--thing-group-name", "east", ok=False)
    assert "(InvalidRequestException)" in wrong.stderr
    groups = run_json(home, "iot", "list-thing-groups-for-thing", "--thing-name", "room2")
    assert [g["groupName"] for g in groups["thingGroups"]] == ["east"]
    run(home, *_indexing("thingIndexingMode=OFF"))


def test_a_continuous_job_on_a_dynamic_group_reaches_things_that_join(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    home = _home(tmp_path_factory, "dynamic-job")
    cloud = Cloud(home)
    try:
        cloud.update_indexing_configuration({"thingIndexingMode": "REGISTRY_AND_SHADOW"})
        group = cloud.create_dynamic_thing_group("old-firmware", "attributes.fw:1*")
        cloud.create_job(
            "upgrade",
            [group["thingGroupArn"]],
            document='{"operation": "ota"}',
            target_selection="CONTINUOUS",
        )
        cloud.create_thing("lamp", attribute_payload={"attributes": {"fw": "1.0"}})
        executions = cloud.list_job_executions_for_thing("lamp")["executionSummaries"]
        assert [e["jobId"] for e in executions] == ["upgrade"]
    finally:
        cloud.close()
