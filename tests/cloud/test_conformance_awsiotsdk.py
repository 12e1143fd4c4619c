"""Conformance: the official AWS IoT Device SDK (awscrt + awsiot.iotshadow) against our broker and
shadow service, with mutual TLS: get, update, delete, delta and documents, and the rejections of each."""

from __future__ import annotations

import json
import queue
from pathlib import Path
from typing import Any

import pytest
from awscrt import mqtt
from awsiot import iotshadow
from sdk_device import WAIT_S, device_files, sdk_connected, sdk_connection


def _collector() -> tuple[queue.Queue[Any], Any]:
    box: queue.Queue[Any] = queue.Queue()
    return box, box.put


def test_device_sdk_shadow_client_round_trip(cloud, device, tmp_path: Path) -> None:
    thing = "sdk-thing-1"
    device(thing, connect=False)  # provisions thing, certificate, policy; files in tmp_path
    assert cloud.endpoint is not None
    with sdk_connected(cloud.endpoint, *device_files(tmp_path, thing), thing) as connection:
        shadow = iotshadow.IotShadowClient(connection)
        qos = mqtt.QoS.AT_LEAST_ONCE
        update_ok, on_update_ok = _collector()
        update_err, on_update_err = _collector()
        deltas, on_delta = _collector()
        documents, on_documents = _collector()
        get_ok, on_get_ok = _collector()
        get_err, on_get_err = _collector()
        delete_ok, on_delete_ok = _collector()
        delete_err, on_delete_err = _collector()
        subscriptions = [
            shadow.subscribe_to_update_shadow_accepted(
                iotshadow.UpdateShadowSubscriptionRequest(thing_name=thing), qos, on_update_ok
            ),
            shadow.subscribe_to_update_shadow_rejected(
                iotshadow.UpdateShadowSubscriptionRequest(thing_name=thing), qos, on_update_err
            ),
            shadow.subscribe_to_shadow_delta_updated_events(
                iotshadow.ShadowDeltaUpdatedSubscriptionRequest(thing_name=thing), qos, on_delta
            ),
            shadow.subscribe_to_shadow_updated_events(
                iotshadow.ShadowUpdatedSubscriptionRequest(thing_name=thing), qos, on_documents
            ),
            shadow.subscribe_to_get_shadow_accepted(
                iotshadow.GetShadowSubscriptionRequest(thing_name=thing), qos, on_get_ok
            ),
            shadow.subscribe_to_get_shadow_rejected(
                iotshadow.GetShadowSubscriptionRequest(thing_name=thing), qos, on_get_err
            ),
            shadow.subscribe_to_delete_shadow_accepted(
                iotshadow.DeleteShadowSubscriptionRequest(thing_name=thing), qos, on_delete_ok
            ),
            shadow.subscribe_to_delete_shadow_rejected(
                iotshadow.DeleteShadowSubscriptionRequest(thing_name=thing), qos, on_delete_err
            ),
        ]
        for future, _topic in subscriptions:
            future.result(WAIT_S)

        shadow.publish_update_shadow(
            iotshadow.UpdateShadowRequest(
                thing_name=thing,
                state=iotshadow.ShadowState(desired={"color": "green"}, reported={"color": "red"}),
                client_token="sdk-1",
            ),
            qos,
        ).result(WAIT_S)
        accepted = update_ok.get(timeout=WAIT_S)
        assert accepted.client_token == "sdk-1" and accepted.version == 1
        assert accepted.state.desired == {"color": "green"}
        delta = deltas.get(timeout=WAIT_S)
        assert delta.state == {"color": "green"} and delta.version == 1
        updated = documents.get(timeout=WAIT_S)
        assert updated.previous is None and updated.current.version == 1
        assert updated.current.state.reported == {"color": "red"}

        shadow.publish_get_shadow(
            iotshadow.GetShadowRequest(thing_name=thing, client_token="sdk-2"), qos
        ).result(WAIT_S)
        got = get_ok.get(timeout=WAIT_S)
        assert got.client_token == "sdk-2" and got.version == 1
        assert got.state.delta == {"color": "green"} and got.state.reported == {"color": "red"}

        shadow.publish_update_shadow(
            iotshadow.UpdateShadowRequest(
                thing_name=thing,
                version=7,
                client_token="sdk-3",
                state=iotshadow.ShadowState(reported={"x": 1}),
            ),
            qos,
        ).result(WAIT_S)
        rejected = update_err.get(timeout=WAIT_S)
        assert rejected.code == 409 and rejected.client_token == "sdk-3"

        shadow.publish_delete_shadow(
            iotshadow.DeleteShadowRequest(thing_name=thing, client_token="sdk-4"), qos
        ).result(WAIT_S)
        deleted = delete_ok.get(timeout=WAIT_S)
        assert deleted.version == 1 and deleted.client_token == "sdk-4"
        shadow.publish_get_shadow(iotshadow.GetShadowRequest(thing_name=thing), qos).result(WAIT_S)
        missing = get_err.get(timeout=WAIT_S)
        assert missing.code == 404 and missing.message == "Thing not found"

        shadow.publish_delete_shadow(
            iotshadow.DeleteShadowRequest(thing_name=thing, client_token="sdk-5"), qos
        ).result(WAIT_S)
        not_deleted = delete_err.get(timeout=WAIT_S)
        assert not_deleted.code == 404 and not_deleted.message == "Thing not found"
        assert not_deleted.client_token == "sdk-5" and not_deleted.timestamp is not None


def _tutorial_certificate(cloud, tmp_path: Path, thing: str) -> tuple[Path, Path]:
    """As the AWS IoT tutorials make it: create-keys-and-certificate --set-as-active (no CN of
    ours), a thing attached, a policy allowing iot:Connect on the thing name's client id and the
    thing's own shadow topics."""
    created = cloud.cloud.create_keys_and_certificate(set_as_active=True)
    cloud.cloud.create_thing(thing)
    cloud.cloud.attach_thing_principal(thing, created["certificateArn"])
    shadow = "$aws/things/${iot:Connection.Thing.ThingName}/shadow/*"
    prefix = "arn:aws:iot:us-east-1:123456789012"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": f"{prefix}:client/${{iot:Connection.Thing.ThingName}}",
            },
            {"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{prefix}:topic/{shadow}"},
            {
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": f"{prefix}:topicfilter/{shadow}",
            },
            {"Effect": "Allow", "Action": "iot:Receive", "Resource": f"{prefix}:topic/{shadow}"},
        ],
    }
    cloud.cloud.create_policy(f"{thing}-policy", json.dumps(policy))
    cloud.cloud.attach_policy(f"{thing}-policy", created["certificateArn"])
    cert, key = tmp_path / f"{thing}.crt", tmp_path / f"{thing}.key"
    cert.write_text(created["certificatePem"])
    key.write_text(created["keyPair"]["PrivateKey"])
    return cert, key


def test_device_sdk_with_a_tutorial_certificate_connects_as_its_thing(cloud, tmp_path) -> None:
    """The tutorials' first steps: no CN chosen, client id = thing name; a client id the policy
    does not allow is refused at CONNECT."""
    thing = "sdk-tutorial-1"
    cert, key = _tutorial_certificate(cloud, tmp_path, thing)
    refused = sdk_connection(cloud.endpoint, cert, key, "sdk-someone-else")
    # aws-c-mqtt reports a CONNACK that refuses (here 5, not authorized) as a protocol error
    with pytest.raises(Exception, match="AWS_ERROR_MQTT_PROTOCOL_ERROR"):
        refused.connect().result(WAIT_S)
    log = cloud.broker.log_file.read_text()
    assert (
        "buttonrig_auth: sdk-someone-else refused: iot:Connect on client/sdk-someone-else" in log
    )

    with sdk_connected(cloud.endpoint, cert, key, thing) as connection:
        shadow = iotshadow.IotShadowClient(connection)
        qos = mqtt.QoS.AT_LEAST_ONCE
        accepted, on_accepted = _collector()
        future, _ = shadow.subscribe_to_update_shadow_accepted(
            iotshadow.UpdateShadowSubscriptionRequest(thing_name=thing), qos, on_accepted
        )
        future.result(WAIT_S)
        shadow.publish_update_shadow(
            iotshadow.UpdateShadowRequest(
                thing_name=thing,
                state=iotshadow.ShadowState(reported={"on": True}),
                client_token="tut-1",
            ),
            qos,
        ).result(WAIT_S)
        assert accepted.get(timeout=WAIT_S).client_token == "tut-1"
