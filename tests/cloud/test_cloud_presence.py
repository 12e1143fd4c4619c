"""Lifecycle (presence) events, registry events, and the guide's "Detecting a Thing Is
Connected" pattern (LWT on a plain topic, republished to the shadow), over the real broker."""

from __future__ import annotations

import json
import time
from pathlib import Path

from raw_mqtt import raw_connect

from rig.cloud.core import arn
from rig.cloud.runtime import CloudRuntime
from rig.mqtt.device_client import DeviceClient
from rig.mqtt.endpoint import ClientIdentity

EVENTS_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": arn.client_arn("event-watcher")},
        {
            "Effect": "Allow",
            "Action": "iot:Subscribe",
            "Resource": arn.topicfilter_arn("$aws/events/*"),
        },
        {"Effect": "Allow", "Action": "iot:Receive", "Resource": arn.topic_arn("$aws/events/*")},
    ],
}


def _watcher(cloud: CloudRuntime, directory: Path) -> DeviceClient:
    created = cloud.cloud.create_keys_and_certificate(True, common_name="event-watcher")
    if "EventsWatch" not in [p["policyName"] for p in cloud.cloud.list_policies()["policies"]]:
        cloud.cloud.create_policy("EventsWatch", json.dumps(EVENTS_POLICY))
    cloud.cloud.attach_policy("EventsWatch", created["certificateArn"])
    cert, key = directory / "watcher.crt", directory / "watcher.key"
    cert.write_text(created["certificatePem"])
    key.write_text(created["keyPair"]["PrivateKey"])
    assert cloud.endpoint is not None
    return DeviceClient(cloud.endpoint, cert, key, "event-watcher").connect()


def test_presence_events_for_clean_and_abrupt_disconnects(cloud, device, tmp_path) -> None:
    watcher = _watcher(cloud, tmp_path)
    try:
        watcher.subscribe("$aws/events/presence/+/presence-btn-1")
        button = device("presence-btn-1")
        certificate_id = cloud.cloud.list_thing_principals("presence-btn-1")["principals"][0]
        certificate_id = certificate_id.split("/")[-1]
        connected = watcher.expect("$aws/events/presence/connected/presence-btn-1")
        assert connected["clientId"] == "presence-btn-1"
        assert connected["eventType"] == "connected"
        assert connected["principalIdentifier"] == certificate_id
        assert isinstance(connected["timestamp"], int) and connected["sessionIdentifier"]
        button.close()
        disconnected = watcher.expect("$aws/events/presence/disconnected/presence-btn-1")
        assert disconnected["eventType"] == "disconnected"
        assert disconnected["sessionIdentifier"] == connected["sessionIdentifier"]

        identity = ClientIdentity(
            tmp_path / "presence-btn-1.crt.pem", tmp_path / "presence-btn-1.key.pem"
        )
        assert cloud.endpoint is not None
        dropped = raw_connect(cloud.endpoint, identity, ("iotbutton/presence-btn-1", b"{}"))
        watcher.expect("$aws/events/presence/connected/presence-btn-1")
        dropped.close()  # no DISCONNECT: a network failure as the broker sees it
        watcher.expect("$aws/events/presence/disconnected/presence-btn-1")
    finally:
        watcher.close()


def test_registry_events_are_published(cloud, tmp_path) -> None:
    watcher = _watcher(cloud, tmp_path)
    try:
        watcher.subscribe("$aws/events/thing/+/+")
        cloud.cloud.create_thing("registry-evt-1", attribute_payload={"attributes": {"a": "1"}})
        created = watcher.expect("$aws/events/thing/registry-evt-1/created")
        assert created["eventType"] == "thingEvent" and created["operation"] == "CREATED"
        assert created["thingName"] == "registry-evt-1" and created["versionNumber"] == 1
        assert created["attributes"] == {"a": "1"} and created["accountId"] == arn.ACCOUNT
        cloud.cloud.update_thing("registry-evt-1", attribute_payload={"attributes": {"a": "2"}})
        updated = watcher.expect("$aws/events/thing/registry-evt-1/updated")
        assert updated["versionNumber"] == 2
        cloud.cloud.delete_thing("registry-evt-1")
        assert watcher.expect("$aws/events/thing/registry-evt-1/deleted")["operation"] == "DELETED"
    finally:
        watcher.close()


def test_detecting_a_thing_is_connected(cloud, device, tmp_path) -> None:
    thing = "lwt-bulb-1"
    plain_topic = f"my/things/{thing}/update"
    service = cloud.service
    assert service is not None

    def republish(topic: str, payload: bytes) -> None:  # the guide's republish rule, stand-in
        name = topic.split("/")[2]
        service.publish(f"$aws/things/{name}/shadow/update", payload)

    service.subscribe("my/things/+/update", republish)
    bulb = device(thing)
    certificate_arn = cloud.cloud.list_thing_principals(thing)["principals"][0]
    cloud.cloud.create_policy(
        "LwtPlainTopic",
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "iot:Publish",
                        "Resource": arn.topic_arn(plain_topic),
                    }
                ],
            }
        ),
    )
    cloud.cloud.attach_policy("LwtPlainTopic", certificate_arn)
    base = f"$aws/things/{thing}/shadow"
    bulb.subscribe(f"{base}/update/documents")
    bulb.publish(f"{base}/update", {"state": {"reported": {"connected": "true"}}})
    bulb.expect(f"{base}/update/documents")
    bulb.close()

    identity = ClientIdentity(tmp_path / f"{thing}.crt.pem", tmp_path / f"{thing}.key.pem")
    assert cloud.endpoint is not None
    will = json.dumps({"state": {"reported": {"connected": "false"}}}).encode()
    dropped = raw_connect(cloud.endpoint, identity, (plain_topic, will))
    dropped.close()  # "If the device disconnects due to an error, its LWT message is posted"
    deadline = time.monotonic() + 20
    state = None
    while time.monotonic() < deadline:
        state = json.loads(cloud.cloud.get_thing_shadow(thing))["state"]["reported"]
        if state.get("connected") == "false":
            break
        time.sleep(0.05)
    assert state == {"connected": "false"}, f"shadow after the LWT: {state}"


def test_subscription_lifecycle_events(cloud, device, tmp_path) -> None:
    watcher = _watcher(cloud, tmp_path)
    try:
        watcher.subscribe("$aws/events/subscriptions/+/presence-sub-1")
        button = device("presence-sub-1")
        accepted = "$aws/things/presence-sub-1/shadow/get/accepted"
        button.subscribe(accepted)
        subscribed = watcher.expect("$aws/events/subscriptions/subscribed/presence-sub-1")
        assert subscribed["eventType"] == "subscribed" and subscribed["topics"] == [accepted]
        assert subscribed["clientId"] == "presence-sub-1"
        button.client.unsubscribe(accepted)
        unsubscribed = watcher.expect("$aws/events/subscriptions/unsubscribed/presence-sub-1")
        assert unsubscribed["topics"] == [accepted]
        assert unsubscribed["sessionIdentifier"] == subscribed["sessionIdentifier"]
    finally:
        watcher.close()


def test_presence_names_the_certificate_the_connection_used(cloud, tmp_path) -> None:
    """principalIdentifier is the certificate id of the connection, also for a certificate made
    as the AWS guide makes it (no CN of ours: nothing ties its CN to the client id)."""
    thing = "presence-nocn-1"
    created = cloud.cloud.create_keys_and_certificate(set_as_active=True)
    cloud.cloud.create_thing(thing)
    cloud.cloud.attach_thing_principal(thing, created["certificateArn"])
    connect = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": arn.client_arn("${iot:Connection.Thing.ThingName}"),
            }
        ],
    }
    cloud.cloud.create_policy(f"{thing}-connect", json.dumps(connect))
    cloud.cloud.attach_policy(f"{thing}-connect", created["certificateArn"])
    cert, key = tmp_path / "nocn.crt", tmp_path / "nocn.key"
    cert.write_text(created["certificatePem"])
    key.write_text(created["keyPair"]["PrivateKey"])
    watcher = _watcher(cloud, tmp_path)
    try:
        watcher.subscribe(f"$aws/events/presence/+/{thing}")
        assert cloud.endpoint is not None
        button = DeviceClient(cloud.endpoint, cert, key, thing).connect()
        connected = watcher.expect(f"$aws/events/presence/connected/{thing}")
        assert connected["principalIdentifier"] == created["certificateId"]
        button.close()
        disconnected = watcher.expect(f"$aws/events/presence/disconnected/{thing}")
        assert disconnected["principalIdentifier"] == created["certificateId"]
    finally:
        watcher.close()
