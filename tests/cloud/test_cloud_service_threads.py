"""Where the cloud service does its work (issue #4): shadow requests on the MQTT link's network thread,
in arrival order and never behind a hook handler; hook handlers on the worker thread; topic
filters compiled once with the same answers as paho's matcher."""

from __future__ import annotations

import json
import threading
import time

import paho.mqtt.client as mqtt
from hypothesis import given
from hypothesis import strategies as st

from rig.mqtt.topic_filter import topic_filter_pattern

LEVELS = st.sampled_from(["a", "b", "", "$SYS", "$aws", "x.y", "(", "+", "#"])


@st.composite
def topic_filters(draw: st.DrawFn) -> str:
    levels = draw(st.lists(LEVELS.filter(lambda level: level != "#"), min_size=0, max_size=4))
    if not levels or draw(st.booleans()):
        levels.append("#")
    return "/".join(levels)


TOPICS = st.lists(
    st.sampled_from(["a", "b", "", "$SYS", "$aws", "x.y", "xzy", "(", "a\nb"]),
    min_size=1,
    max_size=5,
).map("/".join)


@given(topic_filters(), TOPICS)
def test_a_compiled_filter_matches_exactly_what_paho_matches(
    topic_filter: str, topic: str
) -> None:
    compiled = topic_filter_pattern(topic_filter).fullmatch(topic) is not None
    assert compiled == mqtt.topic_matches_sub(topic_filter, topic), (topic_filter, topic)


def test_filter_examples() -> None:
    assert topic_filter_pattern("a/#").fullmatch("a")
    assert topic_filter_pattern("a/#").fullmatch("a/b/c")
    assert not topic_filter_pattern("a/#").fullmatch("ab")
    assert topic_filter_pattern("+/b").fullmatch("/b")
    assert not topic_filter_pattern("#").fullmatch("$SYS/broker/log/N")
    assert topic_filter_pattern("$SYS/broker/log/#").fullmatch("$SYS/broker/log/N")
    assert not topic_filter_pattern("a.b").fullmatch("axb")  # regex characters are literal


def test_a_burst_of_updates_is_answered_in_arrival_order(device) -> None:
    thing = "threads-burst-1"
    button = device(thing)
    base = f"$aws/things/{thing}/shadow"
    button.subscribe(f"{base}/update/accepted")
    count = 10  # all in flight at once, none over the limit
    for index in range(count):
        body = {"state": {"reported": {"n": index}}, "clientToken": f"t{index}"}
        button.client.publish(f"{base}/update", json.dumps(body), qos=1)
    replies = [button.expect(f"{base}/update/accepted") for _ in range(count)]
    assert [reply["clientToken"] for reply in replies] == [f"t{i}" for i in range(count)]
    assert [reply["version"] for reply in replies] == list(range(1, count + 1))


def test_hook_handlers_run_on_the_worker_and_shadows_never_wait_for_them(cloud, device) -> None:
    thing = "threads-hook-1"
    release = threading.Event()
    seen: list[str] = []

    def slow_handler(_topic: str, _payload: bytes) -> None:
        seen.append(threading.current_thread().name)
        release.wait(20)

    cloud.service.subscribe(f"iotbutton/{thing}", slow_handler)
    button = device(thing)
    base = f"$aws/things/{thing}/shadow"
    button.subscribe(f"{base}/update/accepted")
    try:
        button.publish(f"iotbutton/{thing}", {"clickType": "SINGLE"})
        deadline = time.monotonic() + 20
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
        assert seen == ["cloud-worker"]
        # the worker is stuck in the hook handler: the shadow service still answers
        button.publish(f"{base}/update", {"state": {"reported": {"busy": True}}})
        assert button.expect(f"{base}/update/accepted", timeout=10)["version"] == 1
    finally:
        release.set()
