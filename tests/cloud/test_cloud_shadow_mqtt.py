"""The shadow service over MQTT, against the real broker: replies, delta, documents, errors."""

from __future__ import annotations

import json
import queue
import time

import paho.mqtt.client as mqtt
from broker_watch import dropped

from rig.mqtt.device_client import WAIT_S, DeviceClient


def _shadow(client: DeviceClient, thing: str, *suffixes: str) -> str:
    base = f"$aws/things/{thing}/shadow"
    for suffix in suffixes:
        client.subscribe(f"{base}/{suffix}")
    return base


def test_update_get_delete_with_delta_and_documents(device) -> None:
    thing = "shadow-flow-1"
    button = device(thing)
    base = _shadow(
        button,
        thing,
        "update/accepted",
        "update/delta",
        "update/documents",
        "get/accepted",
        "get/rejected",
        "delete/accepted",
    )
    button.publish(f"{base}/update", {"state": {"desired": {"color": "red"}}, "clientToken": "a1"})
    accepted = button.expect(f"{base}/update/accepted")
    assert accepted["state"] == {"desired": {"color": "red"}}
    assert accepted["clientToken"] == "a1" and accepted["version"] == 1
    delta = button.expect(f"{base}/update/delta")
    assert delta["state"] == {"color": "red"} and delta["version"] == 1
    documents = button.expect(f"{base}/update/documents")
    assert documents["previous"] is None
    assert documents["current"]["state"] == {"desired": {"color": "red"}}

    button.publish(f"{base}/update", {"state": {"reported": {"color": "red"}}})
    assert button.expect(f"{base}/update/accepted")["version"] == 2
    documents = button.expect(f"{base}/update/documents")
    assert documents["previous"]["version"] == 1 and documents["current"]["version"] == 2

    button.publish(f"{base}/get", {"clientToken": "g1"})
    got = button.expect(f"{base}/get/accepted")
    assert got["state"] == {"desired": {"color": "red"}, "reported": {"color": "red"}}
    assert "delta" not in got["state"] and got["clientToken"] == "g1"

    button.publish(f"{base}/delete", b"")
    assert button.expect(f"{base}/delete/accepted")["version"] == 2
    button.publish(f"{base}/get", b"")
    rejected = button.expect(f"{base}/get/rejected")
    assert rejected["code"] == 404 and rejected["message"] == "Thing not found"


def test_bad_requests_get_the_guides_errors_and_the_service_survives(device) -> None:
    thing = "shadow-errors-1"
    button = device(thing)
    base = _shadow(button, thing, "update/rejected", "update/accepted")
    deep: dict[str, object] = {"v": 1}
    for _ in range(8):
        deep = {"n": deep}
    cases = [
        (b"{not json", 400, "Invalid JSON"),
        (json.dumps({"clientToken": "x"}).encode(), 400, "Missing required node: state"),
        (json.dumps({"state": {"reported": deep}}).encode(), 400, None),
        (
            json.dumps({"state": {"reported": {"big": "x" * 9000}}}).encode(),
            413,
            "The payload exceeds the maximum size allowed",
        ),
        (b"\xff\xfe\x00", 415, "Unsupported documented encoding; supported encoding is UTF-8"),
        (
            json.dumps({"state": {"reported": {"a": 1}}, "version": 99}).encode(),
            409,
            "Version conflict",
        ),
    ]
    for payload, code, message in cases:
        button.publish(f"{base}/update", payload)
        rejected = button.expect(f"{base}/update/rejected")
        assert rejected["code"] == code, f"{payload[:40]!r} -> {rejected}"
        if message is not None:  # the nesting message is checked below
            assert rejected["message"] == message
    assert "nesting" in _last_deep_error(button, base, deep)
    # still alive and correct after all that
    button.publish(f"{base}/update", {"state": {"reported": {"ok": True}}, "clientToken": "fine"})
    assert button.expect(f"{base}/update/accepted")["clientToken"] == "fine"


def _last_deep_error(button: DeviceClient, base: str, deep: dict[str, object]) -> str:
    button.publish(f"{base}/update", {"state": {"reported": deep}})
    return button.expect(f"{base}/update/rejected")["message"]


def test_more_than_ten_requests_in_flight_get_429(device) -> None:
    thing = "shadow-burst-1"
    button = device(thing)
    base = _shadow(button, thing, "update/accepted", "update/rejected")
    burst = 60
    for index in range(burst):
        button.client.publish(
            f"{base}/update",
            json.dumps({"state": {"reported": {"n": index}}, "clientToken": f"b{index}"}),
            qos=0,
        )
    replies: dict[str, str] = {}
    deadline = time.monotonic() + 30
    while len(replies) < burst and time.monotonic() < deadline:
        message = button.messages.get(timeout=max(0.1, deadline - time.monotonic()))
        body = json.loads(message.payload)
        kind = message.topic.rsplit("/", 1)[-1]
        if kind == "rejected":
            assert body["code"] == 429, body
        replies[body["clientToken"]] = kind
    assert len(replies) == burst, f"{burst - len(replies)} requests got no reply"
    kinds = list(replies.values())
    assert kinds.count("rejected") >= 1, "a burst of 60 never exceeded 10 in flight"
    assert kinds.count("accepted") >= 10


def test_a_thing_cannot_touch_another_things_shadow(device) -> None:
    """Subscribing to or publishing on another thing's shadow topics ends the connection without
    SUBACK or PUBACK (the broker plugin), and nothing reaches the owner's shadow."""
    owner, spy, intruder = (
        device("shadow-owner-1"),
        device("shadow-spy-1"),
        device("shadow-intruder-1"),
    )
    base = _shadow(owner, "shadow-owner-1", "update/accepted", "update/documents")
    spy_gone, intruder_gone = dropped(spy), dropped(intruder)
    spy.client.subscribe(f"{base}/update/accepted", qos=1)
    forged = json.dumps({"state": {"reported": {"hacked": True}}})
    refused = intruder.client.publish(f"{base}/update", forged, qos=1)
    assert spy_gone.wait(20) and intruder_gone.wait(20), "a refused request left it connected"
    assert not refused.is_published(), "the forged update was acknowledged"
    owner.publish(f"{base}/update", {"state": {"reported": {"mine": True}}, "clientToken": "o"})
    accepted = owner.expect(f"{base}/update/accepted")
    assert accepted["clientToken"] == "o" and accepted["version"] == 1, (
        f"the intruder's update reached the shadow: {accepted}"
    )
    owner.expect(f"{base}/update/documents")
    leaked = [m.topic for m in list(spy.messages.queue) if "shadow-owner-1" in m.topic]
    assert leaked == [], f"the spy received {leaked}"


def test_get_on_a_thing_without_shadow_is_404_and_the_token_is_echoed(device) -> None:
    thing = "shadow-none-1"
    button = device(thing)
    base = _shadow(button, thing, "get/rejected", "delete/rejected")
    button.publish(f"{base}/get", {"clientToken": "where"})
    rejected = button.expect(f"{base}/get/rejected")
    assert rejected == {
        "code": 404,
        "message": "Thing not found",
        "timestamp": rejected["timestamp"],
        "clientToken": "where",
    }
    button.publish(f"{base}/delete", b"")
    assert button.expect(f"{base}/delete/rejected")["code"] == 404


def _next_message(client: DeviceClient, topic: str) -> mqtt.MQTTMessage:
    """The next message on `topic` as received (topic, QoS, payload); others are skipped."""
    deadline = time.monotonic() + WAIT_S
    seen: list[str] = []
    while time.monotonic() < deadline:
        try:
            message = client.messages.get(timeout=max(0.05, deadline - time.monotonic()))
        except queue.Empty:
            continue
        if message.topic == topic:
            return message
        seen.append(message.topic)
    raise TimeoutError(f"no message on {topic} within {WAIT_S} s; saw {seen}")


def test_replies_reach_a_qos1_subscriber_at_qos0_as_in_the_guides_data_flow(device) -> None:
    """Guide, "Thing Shadows Data Flow": subscribed with QoS 1, every reply arrives "qos": 0.

    (Named shadows share the reply path but a device policy cannot reach them over MQTT.)"""
    thing = "shadow-qos-1"
    button = device(thing)
    base = f"$aws/things/{thing}/shadow"
    for suffix in (
        "update/accepted",
        "update/delta",
        "update/documents",
        "update/rejected",
        "get/accepted",
        "get/rejected",
        "delete/accepted",
        "delete/rejected",
    ):
        assert button.subscribe(f"{base}/{suffix}", qos=1) == [1]

    button.publish(f"{base}/update", {"state": {"desired": {"on": True}}, "clientToken": "q"})
    accepted = _next_message(button, f"{base}/update/accepted")
    assert accepted.qos == 0 and json.loads(accepted.payload)["clientToken"] == "q"
    delta = _next_message(button, f"{base}/update/delta")
    assert delta.qos == 0 and json.loads(delta.payload)["state"] == {"on": True}
    documents = _next_message(button, f"{base}/update/documents")
    assert documents.qos == 0
    assert json.loads(documents.payload)["current"]["state"] == {"desired": {"on": True}}

    button.publish(f"{base}/update", b"{not json")
    rejected = _next_message(button, f"{base}/update/rejected")
    assert rejected.qos == 0 and json.loads(rejected.payload)["code"] == 400
    button.publish(f"{base}/get", b"")
    got = _next_message(button, f"{base}/get/accepted")
    assert got.qos == 0 and json.loads(got.payload)["version"] == 1
    button.publish(f"{base}/delete", b"")
    assert _next_message(button, f"{base}/delete/accepted").qos == 0
    button.publish(f"{base}/delete", b"")
    assert _next_message(button, f"{base}/delete/rejected").qos == 0
    button.publish(f"{base}/get", b"")
    assert _next_message(button, f"{base}/get/rejected").qos == 0


def _device_allowed_everything(device, cloud, thing: str) -> DeviceClient:
    """A device whose certificate also has `iot:*` on `*`: the broker lets any topic through,
    so only the shadow service can refuse a bad name in the topic."""
    client = device(thing, connect=False)
    (certificate_arn,) = cloud.cloud.list_thing_principals(thing)["principals"]
    policy = f"{thing}-everything"
    cloud.cloud.create_policy(
        policy,
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}],
        },
    )
    cloud.cloud.attach_policy(policy, certificate_arn)
    return client.connect()


def _stored_shadow_names(cloud) -> set[tuple[str, str]]:
    rows = cloud.cloud.store.read().execute("SELECT thing_name, shadow_name FROM shadows")
    return {(row["thing_name"], row["shadow_name"]) for row in rows}


def test_a_bad_thing_or_shadow_name_in_the_topic_is_rejected_and_nothing_is_stored(
    device, cloud
) -> None:
    """REST refuses these names (InvalidRequestException); over MQTT they get a 400 on the
    request's /rejected topic (decision S-24). Named shadows are outside the guide's reserved
    topics, so the broker refuses them to devices: their names are tested on ShadowStore
    (tests/cloud/test_shadow_names.py)."""
    admin = _device_allowed_everything(device, cloud, "shadow-names-1")
    cases = [
        ("bad name!", "update"),
        ("x" * 200, "update"),
        ("ümlaut", "get"),
        ("dot.name", "delete"),
    ]
    for thing, operation in cases:
        base = f"$aws/things/{thing}/shadow"
        admin.subscribe(f"{base}/{operation}/rejected")
        admin.subscribe(f"{base}/{operation}/accepted")
        admin.publish(
            f"{base}/{operation}", {"state": {"reported": {"a": 1}}, "clientToken": "n1"}
        )
        rejected = admin.expect(f"{base}/{operation}/rejected")
        assert rejected == {
            "code": 400,
            "message": "Invalid thing name",
            "timestamp": rejected["timestamp"],
            "clientToken": "n1",
        }, thing
        assert isinstance(rejected["timestamp"], int)
    assert not {thing for thing, _ in cases} & {thing for thing, _ in _stored_shadow_names(cloud)}
    # a good name of every allowed character still works for the same client
    base = "$aws/things/Good:name_1-x/shadow"
    admin.subscribe(f"{base}/update/accepted")
    admin.publish(f"{base}/update", {"state": {"reported": {"a": 1}}})
    assert admin.expect(f"{base}/update/accepted")["version"] == 1
    assert ("Good:name_1-x", "") in _stored_shadow_names(cloud)


def test_rest_shadow_changes_reach_mqtt_at_qos0_and_registry_events_stay_qos1(
    device, cloud
) -> None:
    """REST changes are published from the outbox: shadow topics at QoS 0 like every shadow
    message (decision S-23), registry events at QoS 1 as before."""
    thing = "shadow-rest-qos-1"
    watcher = _device_allowed_everything(device, cloud, thing)
    base = f"$aws/things/{thing}/shadow"
    for suffix in ("update/accepted", "update/delta", "update/documents", "delete/accepted"):
        assert watcher.subscribe(f"{base}/{suffix}", qos=1) == [1]
    created = "$aws/events/thing/shadow-rest-qos-2/created"
    assert watcher.subscribe(created, qos=1) == [1]

    cloud.cloud.update_thing_shadow(thing, b'{"state":{"desired":{"on":true}}}')
    for suffix in ("update/accepted", "update/delta", "update/documents"):
        message = _next_message(watcher, f"{base}/{suffix}")
        assert message.qos == 0, suffix
    assert json.loads(message.payload)["current"]["state"] == {"desired": {"on": True}}
    cloud.cloud.delete_thing_shadow(thing)
    assert _next_message(watcher, f"{base}/delete/accepted").qos == 0

    cloud.cloud.create_thing("shadow-rest-qos-2")
    assert _next_message(watcher, created).qos == 1
