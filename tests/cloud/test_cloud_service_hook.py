"""The service's handler hook: the services the runtime registers, and handlers added at run time."""

from __future__ import annotations

import json

from rig.cloud.core import arn


def _allow_ping(cloud, thing: str) -> None:
    certificate_arn = cloud.cloud.list_thing_principals(thing)["principals"][0]
    ping, pong = f"buttonrig/ping/{thing}", f"buttonrig/pong/{thing}"
    statements = [
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": arn.topic_arn(ping)},
        {"Effect": "Allow", "Action": "iot:Receive", "Resource": arn.topic_arn(pong)},
        {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": arn.topicfilter_arn(pong)},
    ]
    name = f"{thing}-ping"
    cloud.cloud.create_policy(name, json.dumps({"Version": "2012-10-17", "Statement": statements}))
    cloud.cloud.attach_policy(name, certificate_arn)


def test_a_handler_module_answers(cloud, device) -> None:
    thing = "hook-ping-1"
    button = device(thing)
    _allow_ping(cloud, thing)
    button.subscribe(f"buttonrig/pong/{thing}")
    button.publish(f"buttonrig/ping/{thing}", b'{"n": 7}')
    assert button.expect(f"buttonrig/pong/{thing}") == {"n": 7}


def test_a_failing_handler_does_not_stop_the_service(cloud, device) -> None:
    thing = "hook-fail-1"
    calls: list[str] = []

    def broken(topic: str, _payload: bytes) -> None:
        calls.append(topic)
        raise RuntimeError("a bug in some part's handler")

    cloud.service.subscribe(f"iotbutton/{thing}", broken)
    button = device(thing)
    _allow_ping(cloud, thing)
    button.subscribe(f"buttonrig/pong/{thing}")
    button.publish(f"iotbutton/{thing}", {"clickType": "SINGLE"})
    # The ping is answered on the same worker thread, after the broken handler (in order): the
    # pong says the worker outlived it. (The shadow is answered on the network thread: its
    # reply says nothing about the worker.)
    button.publish(f"buttonrig/ping/{thing}", b'{"n": 1}')
    assert button.expect(f"buttonrig/pong/{thing}") == {"n": 1}
    assert calls == [f"iotbutton/{thing}"]
    base = f"$aws/things/{thing}/shadow"
    button.subscribe(f"{base}/update/accepted")
    button.publish(f"{base}/update", {"state": {"reported": {"alive": True}}})
    assert button.expect(f"{base}/update/accepted")["version"] == 1
