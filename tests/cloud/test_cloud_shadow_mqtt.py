"""The shadow service over MQTT, against the real broker: replies, delta, documents, errors."""

from __future__ import annotations

import json
import queue
import time

import paho.mqtt.client as mqtt

from rig.cloud.pytest_fixtures import WAIT_S, DeviceClient


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
        (json.dumps({"state": {"reported": {"big": "x" * 9000}}}).encode(), 413, None),
        (b"\xff\xfe\x00", None, None),
        (json.dumps({"state": {"reported": {"a": 1}}, "version": 99}).encode(), 409, None),
    ]
    for payload, code, message in cases:
        button.publish(f"{base}/update", payload)
        rejected = button.expect(f"{base}/update/rejected")
        if code is not None:
            assert rejected["code"] == code, f"{payload[:40]!r} -> {rejected}"
        else:
            assert 400 <= rejected["code"] < 500, f"{payload[:40]!r} -> {rejected}"
        if message is not None:
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
    owner, intruder = device("shadow-owner-1"), device("shadow-intruder-1")
    base = _shadow(owner, "shadow-owner-1", "update/accepted", "update/documents")
    intruder.subscribe(f"{base}/update/accepted")
    intruder.subscribe(f"{base}/update/documents")
    intruder.publish(f"{base}/update", {"state": {"reported": {"hacked": True}}})
    owner.publish(f"{base}/update", {"state": {"reported": {"mine": True}}, "clientToken": "o"})
    accepted = owner.expect(f"{base}/update/accepted")
    assert accepted["clientToken"] == "o" and accepted["version"] == 1, (
        f"the intruder's update reached the shadow: {accepted}"
    )
    owner.expect(f"{base}/update/documents")
    time.sleep(0.5)  # give a leaked delivery a chance to show up
    leaked = [m.topic for m in list(intruder.messages.queue) if "shadow-owner-1" in m.topic]
    assert leaked == [], f"intruder received {leaked}"


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
