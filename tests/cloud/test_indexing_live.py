"""Fleet indexing against a running cloud: a device's shadow update over MQTT and its connection
reach search-index and dynamic groups at once (the guide promises "continuously updated")."""

from __future__ import annotations

import time

from rig.pytest_plugin.cli_runner import buttonrig_json as run_json

VISIBLE_WITHIN_S = 1.0


def _search(home, text: str) -> list[str]:
    found = run_json(home, "iot", "search-index", "--query-string", text)
    return [t["thingName"] for t in found["things"]]


def test_a_shadow_update_over_mqtt_is_searchable_within_a_second(device, cloud) -> None:
    home = cloud.home
    cloud.cloud.update_indexing_configuration(
        {"thingIndexingMode": "REGISTRY_AND_SHADOW", "thingConnectivityIndexingMode": "STATUS"}
    )
    group = cloud.cloud.create_dynamic_thing_group(
        "warm-online", "shadow.reported.temperature>20 AND connectivity.connected:true"
    )
    thing = "index-live-1"
    button = device(thing)
    base = f"$aws/things/{thing}/shadow"
    button.subscribe(f"{base}/update/accepted")
    sent = time.monotonic()
    button.publish(f"{base}/update", {"state": {"reported": {"temperature": 24}}})
    button.expect(f"{base}/update/accepted")
    while _search(home, "shadow.reported.temperature:24") != [thing]:
        assert time.monotonic() - sent < VISIBLE_WITHIN_S, "the update did not reach the index"
        time.sleep(0.05)
    found = run_json(home, "iot", "search-index", "--query-string", f"thingName:{thing}")
    connectivity = found["things"][0]["connectivity"]
    assert connectivity["connected"] is True and isinstance(connectivity["timestamp"], int)
    members = cloud.cloud.list_things_in_thing_group(group["thingGroupName"])["things"]
    assert members == [thing]

    button.close()  # a disconnect takes the thing out of the group
    deadline = time.monotonic() + 5
    while cloud.cloud.list_things_in_thing_group(group["thingGroupName"])["things"]:
        assert time.monotonic() < deadline, "the disconnect did not reach the group"
        time.sleep(0.05)
    assert _search(home, "connectivity.connected:false") == [thing]
    cloud.cloud.delete_dynamic_thing_group(group["thingGroupName"])
