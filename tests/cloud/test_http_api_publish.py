"""iot-data Publish over the AWS HTTP API reaches a device subscribed over MQTT (issue #16)."""

from __future__ import annotations

import json

import pytest
from aws_http import client, dummy_env, error_of
from botocore.exceptions import ClientError

from rig.cloud.core import arn


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    dummy_env(monkeypatch)


def test_published_message_reaches_a_subscriber(cloud, device) -> None:
    subscriber = device("http-listener", connect=False)
    topic = "http/news/http-listener"
    cloud.cloud.create_policy(
        "http-listener-news",
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "iot:Subscribe",
                        "Resource": arn.topicfilter_arn(topic),
                    },
                    {"Effect": "Allow", "Action": "iot:Receive", "Resource": arn.topic_arn(topic)},
                ],
            }
        ),
    )
    certificate_arn = cloud.cloud.list_thing_principals("http-listener")["principals"][0]
    cloud.cloud.attach_policy("http-listener-news", certificate_arn)
    subscriber.connect()
    assert subscriber.subscribe(topic) == [1]
    data = client(cloud, "iot-data")
    data.publish(topic=topic, qos=1, payload=b'{"hello": "over http"}')
    assert subscriber.expect(topic) == {"hello": "over http"}


def test_publish_refusals(cloud) -> None:
    data = client(cloud, "iot-data")
    for kwargs in (
        {"topic": "$aws/things/x/shadow/update"},
        {"topic": "a/b", "retain": True},
        {"topic": "a/b", "qos": 2},
        {"topic": "/".join("abcdefghij")},
    ):
        with pytest.raises(ClientError) as refused:
            data.publish(payload=b"{}", **kwargs)
        assert error_of(refused.value)[:2] == ("InvalidRequestException", 400), kwargs
    with pytest.raises(ClientError) as mqtt5:
        data.publish(topic="a/b", payload=b"{}", contentType="text/plain")
    code, status, message = error_of(mqtt5.value)
    assert (code, status) == ("InvalidRequestException", 400)
    assert "contentType" in message
