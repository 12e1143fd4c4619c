"""Dynamic thing groups kept in step incrementally (rig/cloud/indexing/dynamic.py) against
search-index evaluating the same query on every thing from scratch: after any sequence of
registry, membership, shadow, presence and configuration changes, a dynamic group's members are
exactly the things its query finds (static group names only, X-6)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from rig.cloud.api import Cloud

THINGS = ("t1", "t2")
QUERIES = {
    "warm": "shadow.reported.temperature>20",
    "east-or-room": "thingGroupNames:east OR attributes.room:1*",
    "typed-not-cold": "thingTypeName:sensor AND NOT shadow.reported.temperature<10",
    "online": "connectivity.connected:true AND attributes.room:*",
}


class DynamicGroupsMachine(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="dyn-groups-"))
        self.cloud = Cloud(self.directory)
        self.cloud.create_thing_type("sensor")
        self.cloud.create_thing_group("east")
        self.cloud.update_indexing_configuration(
            {"thingIndexingMode": "REGISTRY_AND_SHADOW", "thingConnectivityIndexingMode": "STATUS"}
        )
        for name, text in QUERIES.items():
            self.cloud.create_dynamic_thing_group(name, text)

    def teardown(self) -> None:
        if hasattr(self, "cloud"):
            self.cloud.close()
            shutil.rmtree(self.directory, ignore_errors=True)

    @rule(thing=st.sampled_from(THINGS), typed=st.booleans())
    def create(self, thing: str, typed: bool) -> None:
        if not self.cloud.registry.thing_exists(thing):
            self.cloud.create_thing(thing, thing_type_name="sensor" if typed else None)

    @rule(thing=st.sampled_from(THINGS), room=st.sampled_from(["", "1", "12", "2"]))
    def set_room(self, thing: str, room: str) -> None:
        if self.cloud.registry.thing_exists(thing):
            payload = {"attributes": {"room": room}, "merge": True}
            self.cloud.update_thing(thing, attribute_payload=payload)

    @rule(thing=st.sampled_from(THINGS))
    def remove_type(self, thing: str) -> None:
        if self.cloud.registry.thing_exists(thing):
            self.cloud.update_thing(thing, remove_thing_type=True)

    @rule(thing=st.sampled_from(THINGS), join=st.booleans())
    def east(self, thing: str, join: bool) -> None:
        if self.cloud.registry.thing_exists(thing):
            change = self.cloud.add_thing_to_thing_group if join else None
            if change is not None:
                change(thing_group_name="east", thing_name=thing)
            else:
                self.cloud.remove_thing_from_thing_group("east", thing)

    @rule(thing=st.sampled_from(THINGS), temperature=st.integers(0, 30))
    def report(self, thing: str, temperature: int) -> None:
        payload = {"state": {"reported": {"temperature": temperature}}}
        self.cloud.update_thing_shadow(thing, json.dumps(payload).encode())

    @rule(thing=st.sampled_from(THINGS))
    def delete_shadow(self, thing: str) -> None:
        try:
            self.cloud.delete_thing_shadow(thing)
        except Exception:  # no shadow: 404
            pass

    @rule(thing=st.sampled_from(THINGS), connected=st.booleans())
    def presence(self, thing: str, connected: bool) -> None:
        self.cloud.presence_store.record(thing, connected, "s", "cert", 1)

    @rule(thing=st.sampled_from(THINGS))
    def delete(self, thing: str) -> None:
        self.cloud.delete_thing(thing)

    @rule(shadow=st.booleans())
    def mode(self, shadow: bool) -> None:
        mode = "REGISTRY_AND_SHADOW" if shadow else "REGISTRY"
        self.cloud.update_indexing_configuration(
            {"thingIndexingMode": mode, "thingConnectivityIndexingMode": "STATUS"}
        )

    @invariant()
    def members_are_what_the_query_finds(self) -> None:
        if not hasattr(self, "cloud"):
            return
        for name, text in QUERIES.items():
            # the query as a dynamic group sees it: static group names only
            found = self.cloud.search_index(text)["things"]
            expected = sorted(t["thingName"] for t in found)
            members = self.cloud.list_things_in_thing_group(name)["things"]
            assert members == expected, (name, members, expected)


DynamicGroupsMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_dynamic_groups_follow_their_queries = DynamicGroupsMachine.TestCase


def test_a_new_indexing_mode_re_evaluates_dynamic_groups(tmp_path: Path) -> None:
    cloud = Cloud(tmp_path)
    try:
        cloud.update_indexing_configuration({"thingIndexingMode": "REGISTRY_AND_SHADOW"})
        cloud.create_dynamic_thing_group("warm", QUERIES["warm"])
        cloud.create_thing("t1")
        cloud.update_thing_shadow("t1", b'{"state": {"reported": {"temperature": 25}}}')
        assert cloud.list_things_in_thing_group("warm")["things"] == ["t1"]
        cloud.update_indexing_configuration({"thingIndexingMode": "REGISTRY"})
        assert cloud.list_things_in_thing_group("warm")["things"] == []  # shadows not indexed
        cloud.update_indexing_configuration({"thingIndexingMode": "REGISTRY_AND_SHADOW"})
        assert cloud.list_things_in_thing_group("warm")["things"] == ["t1"]
    finally:
        cloud.close()
