"""A SUBSCRIBE AWS IoT refuses gets no SUBACK and ends the connection (the broker plugin,
rig/broker_plugin/buttonrig_auth.c): the spec's TV-07, TV-11 (c) and (e), and thing isolation
on shadow topics, with paho devices against the real broker and cloud."""

from __future__ import annotations

import json
from collections.abc import Callable

from broker_watch import dropped

from rig.cloud.core import arn
from rig.cloud.runtime import CloudRuntime
from rig.mqtt.device_client import DeviceClient

WAIT_S = 20.0
Device = Callable[..., DeviceClient]


def _grant(cloud: CloudRuntime, thing: str, name: str, statements: list[dict]) -> None:
    """Attach one more policy to the thing's certificate."""
    cloud.cloud.create_policy(name, json.dumps({"Version": "2012-10-17", "Statement": statements}))
    principal = cloud.cloud.list_thing_principals(thing)["principals"][0]
    cloud.cloud.attach_policy(name, principal)


def test_mqtt_wildcards_are_literal_in_subscribe_policies_tv07(device: Device, cloud) -> None:
    """Allow iot:Subscribe on topicfilter/foo/+/bar: SUBSCRIBE foo/+/bar is allowed, foo/baz/bar
    "fails and causes the client to disconnect"."""
    literal, concrete = device("subrule-literal-1"), device("subrule-concrete-1")
    for thing in ("subrule-literal-1", "subrule-concrete-1"):
        _grant(
            cloud,
            thing,
            f"{thing}-foo",
            [
                {
                    "Effect": "Allow",
                    "Action": "iot:Subscribe",
                    "Resource": arn.topicfilter_arn("foo/+/bar"),
                }
            ],
        )
    literal_gone, concrete_gone = dropped(literal), dropped(concrete)
    concrete.client.subscribe("foo/baz/bar", qos=1)  # refused: no SUBACK to wait for
    literal.subscribe("foo/+/bar")
    assert concrete_gone.wait(WAIT_S), "SUBSCRIBE foo/baz/bar did not end the connection"
    assert not literal_gone.is_set() and literal.client.is_connected()


def test_reserved_subscribes_disconnect_even_with_a_policy_allowing_everything_tv11e(
    device: Device, cloud
) -> None:
    everything = [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]
    watcher, prober = device("subrule-events-1"), device("subrule-reserved-1")
    _grant(cloud, "subrule-events-1", "subrule-events-1-all", everything)
    _grant(cloud, "subrule-reserved-1", "subrule-reserved-1-all", everything)
    watcher_gone, prober_gone = dropped(watcher), dropped(prober)
    prober.client.subscribe("$aws/anything/else", qos=1)
    watcher.subscribe("$aws/events/presence/connected/x")
    assert prober_gone.wait(WAIT_S), "SUBSCRIBE $aws/anything/else did not end the connection"
    assert not watcher_gone.is_set() and watcher.client.is_connected()


def test_a_qos2_subscribe_disconnects_without_suback_tv11c(device: Device) -> None:
    """The guide: no SUBACK for QoS 2; the plugin ends the connection before mosquitto sends
    one."""
    calm, eager = device("subrule-qos1-1"), device("subrule-qos2-1")
    calm_gone, eager_gone = dropped(calm), dropped(eager)
    own = "$aws/things/{}/shadow/update/accepted"
    eager.client.subscribe(own.format("subrule-qos2-1"), qos=2)
    calm.subscribe(own.format("subrule-qos1-1"), qos=1)
    assert eager_gone.wait(WAIT_S), "a QoS 2 SUBSCRIBE did not end the connection"
    assert not calm_gone.is_set() and calm.client.is_connected()


def test_thing_a_can_neither_read_nor_write_thing_bs_shadow(device: Device, cloud) -> None:
    victim, intruder = device("subrule-victim-1"), device("subrule-intruder-1")
    victim_base = "$aws/things/subrule-victim-1/shadow"
    victim.subscribe(f"{victim_base}/update/accepted")
    victim.publish(f"{victim_base}/update", {"state": {"reported": {"owner": "victim"}}})
    assert victim.expect(f"{victim_base}/update/accepted")["version"] == 1

    intruder_gone = dropped(intruder)
    forged = json.dumps({"state": {"reported": {"owner": "intruder"}}})
    intruder.client.publish(f"{victim_base}/update", forged, qos=1)  # never acknowledged
    assert intruder_gone.wait(WAIT_S), "a forged update to another thing's shadow stayed up"

    spy = device("subrule-spy-1")
    spy_gone = dropped(spy)
    spy.client.subscribe(f"{victim_base}/update/accepted", qos=1)
    assert spy_gone.wait(WAIT_S), "subscribing to another thing's shadow stayed up"
    victim.publish(f"{victim_base}/update", {"state": {"reported": {"n": 2}}})
    assert victim.expect(f"{victim_base}/update/accepted")["version"] == 2
    assert all(not m.topic.startswith(victim_base) for m in list(spy.messages.queue))
    stored = json.loads(cloud.cloud.get_thing_shadow("subrule-victim-1"))
    assert stored["state"]["reported"] == {"owner": "victim", "n": 2}
