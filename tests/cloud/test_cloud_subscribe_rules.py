"""A SUBSCRIBE AWS IoT refuses disconnects the client (rig/cloud/auth/enforcer.py, authsync
`ClientRules`): the spec's TV-07, TV-11 (c) and (e), and thing isolation on shadow topics,
with paho devices against the real broker and cloud."""

from __future__ import annotations

import json
from collections.abc import Callable

from broker_watch import dropped, kicked

from rig.cloud.auth.enforcer import SubscribeReader, refused_subscribers
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


def test_subscribe_reader_follows_multi_filter_requests_split_across_reads() -> None:
    log = [
        "2026-12-01T20:54:15: Received SUBSCRIBE from watcher",
        "2026-12-01T20:54:15: \tfoo/+/bar (QoS 1)",
        "2026-12-01T20:54:15: watcher 1 foo/+/bar",
        "2026-12-01T20:54:15: Sending PUBLISH to buttonrig-cloud (d0, q0, r0, m0, '$SYS/x', ...",
        "2026-12-01T20:54:15: \tfoo/baz/bar (QoS 2)",
        "2026-12-01T20:54:15: Sending SUBACK to watcher",
        "2026-12-01T20:54:16: Received PUBLISH from other (d0, q1, r0, m1, 'a', ... (1 bytes))",
        "2026-12-01T20:54:16: Received SUBSCRIBE from buttonrig-cloud",
        "2026-12-01T20:54:16: \t# (QoS 1)",
    ]
    seen: list[tuple[str, str, int]] = []

    def refusal(client: str, topic_filter: str, qos: int) -> str | None:
        seen.append((client, topic_filter, qos))
        return "QoS 2" if qos == 2 else None

    reader = SubscribeReader()
    first = refused_subscribers(log[:3], reader, refusal)
    second = refused_subscribers(log[3:], reader, refusal)
    assert first == [] and second == [("watcher", "QoS 2")]
    # the cloud's own subscriptions are never judged
    assert seen == [("watcher", "foo/+/bar", 1), ("watcher", "foo/baz/bar", 2)]


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
    concrete.subscribe("foo/baz/bar")
    literal.subscribe("foo/+/bar")
    assert concrete_gone.wait(WAIT_S), "SUBSCRIBE foo/baz/bar did not end the connection"
    assert kicked(cloud, "subrule-concrete-1")
    # the enforcer reads the log in order: the allowed SUBSCRIBE came after the refused one
    assert not literal_gone.is_set() and literal.client.is_connected()
    assert "subrule-literal-1" not in (cloud.enforcer.kicked if cloud.enforcer else [])


def test_reserved_subscribes_disconnect_even_with_a_policy_allowing_everything_tv11e(
    device: Device, cloud
) -> None:
    everything = [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]
    watcher, prober = device("subrule-events-1"), device("subrule-reserved-1")
    _grant(cloud, "subrule-events-1", "subrule-events-1-all", everything)
    _grant(cloud, "subrule-reserved-1", "subrule-reserved-1-all", everything)
    watcher_gone, prober_gone = dropped(watcher), dropped(prober)
    prober.subscribe("$aws/anything/else")
    watcher.subscribe("$aws/events/presence/connected/x")
    assert prober_gone.wait(WAIT_S), "SUBSCRIBE $aws/anything/else did not end the connection"
    assert kicked(cloud, "subrule-reserved-1")
    assert not watcher_gone.is_set() and watcher.client.is_connected()


def test_a_qos2_subscribe_disconnects_after_a_reload_tv11c(device: Device, cloud) -> None:
    """The guide: no SUBACK for QoS 2. mosquitto sends one (granted 2 after a reload, when it
    has forgotten `max_qos 1`); the enforcer then disconnects the client."""
    cloud.sync_auth()
    calm, eager = device("subrule-qos1-1"), device("subrule-qos2-1")
    calm_gone, eager_gone = dropped(calm), dropped(eager)
    own = "$aws/things/{}/shadow/update/accepted"
    eager.subscribe(own.format("subrule-qos2-1"), qos=2)
    calm.subscribe(own.format("subrule-qos1-1"), qos=1)
    assert eager_gone.wait(WAIT_S), "a QoS 2 SUBSCRIBE did not end the connection"
    assert kicked(cloud, "subrule-qos2-1")
    assert not calm_gone.is_set() and calm.client.is_connected()


def test_thing_a_can_neither_read_nor_write_thing_bs_shadow(device: Device, cloud) -> None:
    victim, intruder = device("subrule-victim-1"), device("subrule-intruder-1")
    victim_base = "$aws/things/subrule-victim-1/shadow"
    victim.subscribe(f"{victim_base}/update/accepted")
    victim.publish(f"{victim_base}/update", {"state": {"reported": {"owner": "victim"}}})
    assert victim.expect(f"{victim_base}/update/accepted")["version"] == 1

    intruder_gone = dropped(intruder)
    intruder.publish(f"{victim_base}/update", {"state": {"reported": {"owner": "intruder"}}})
    assert intruder_gone.wait(WAIT_S), "a forged update to another thing's shadow stayed up"
    assert kicked(cloud, "subrule-intruder-1")

    spy = device("subrule-spy-1")
    spy_gone = dropped(spy)
    spy.subscribe(f"{victim_base}/update/accepted")
    assert spy_gone.wait(WAIT_S), "subscribing to another thing's shadow stayed up"
    victim.publish(f"{victim_base}/update", {"state": {"reported": {"n": 2}}})
    assert victim.expect(f"{victim_base}/update/accepted")["version"] == 2
    assert all(not m.topic.startswith(victim_base) for m in list(spy.messages.queue))
    stored = json.loads(cloud.cloud.get_thing_shadow("subrule-victim-1"))
    assert stored["state"]["reported"] == {"owner": "victim", "n": 2}
