"""The Jobs device API (rig/cloud/jobs/device.py) and its notify / notify-next messages
(rig/cloud/jobs/notify.py), through the handler and the outbox, without a broker: every reply of
the guide's "Jobs Device MQTT and HTTPS APIs", and malformed requests on every jobs topic get the
documented rejection without changing anything."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from cloud_home import cloud_with_things
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rig.cloud.api import Cloud
from rig.cloud.core import arn
from rig.cloud.jobs.device import DeviceJobs

DOC = {"operation": "ota", "url": "https://example.invalid/fw.bin"}
BASE = "$aws/things/b1/jobs"


@pytest.fixture
def cloud(tmp_path: Path):
    with cloud_with_things(tmp_path, ("b1", "b2")) as cloud:
        yield cloud


def _outbox(cloud: Cloud) -> list[tuple[str, dict[str, Any]]]:
    """The jobs messages queued so far (taken out)."""
    with cloud.store.write() as db:
        rows = db.execute(
            "SELECT topic, payload FROM outbox WHERE topic LIKE '$aws/things/%/jobs/%'"
            " ORDER BY seq"
        ).fetchall()
        db.execute("DELETE FROM outbox")
    return [(row["topic"], json.loads(row["payload"])) for row in rows]


def _ask(device: DeviceJobs, topic: str, body: Any) -> tuple[str, dict[str, Any]]:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    replies = device.handle(topic, payload)
    assert len(replies) == 1, replies
    reply_topic, reply = replies[0]
    json.dumps(reply)  # it can be sent
    return reply_topic, reply


def _create(cloud: Cloud, job_id: str, *things: str) -> None:
    cloud.create_job(job_id, [arn.thing_arn(t) for t in things], document=json.dumps(DOC))


def test_create_job_notifies_the_pending_list_and_the_next_job(cloud: Cloud) -> None:
    before = int(time.time())
    _create(cloud, "j1", "b1")
    messages = dict(_outbox(cloud))
    notify = messages[f"{BASE}/notify"]
    (summary,) = notify["jobs"]["QUEUED"]
    assert summary["jobId"] == "j1" and summary["versionNumber"] == 1
    assert before <= summary["queuedAt"] <= time.time()  # epoch seconds, not milliseconds
    assert isinstance(notify["timestamp"], int) and before <= notify["timestamp"] <= time.time()
    nxt = messages[f"{BASE}/notify-next"]["execution"]
    assert nxt["jobId"] == "j1" and nxt["status"] == "QUEUED" and nxt["thingName"] == "b1"
    assert nxt["jobDocument"] == DOC and nxt["versionNumber"] == 1

    _create(cloud, "j2", "b1")  # a second job: the list changes, the next one does not
    assert [topic for topic, _ in _outbox(cloud)] == [f"{BASE}/notify"]


def test_the_guides_device_flow_with_replies_and_notifications(cloud: Cloud) -> None:
    device = DeviceJobs(cloud.job_store)
    _create(cloud, "j1", "b1")
    _create(cloud, "j2", "b1")
    _outbox(cloud)

    topic, pending = _ask(device, f"{BASE}/get", {"clientToken": "c0"})
    assert topic == f"{BASE}/get/accepted" and pending["clientToken"] == "c0"
    assert [s["jobId"] for s in pending["queuedJobs"]] == ["j1", "j2"]
    assert pending["inProgressJobs"] == [] and isinstance(pending["timestamp"], int)

    # J2 started while J1 stays queued: J2 is next now (the guide's own example)
    _, accepted = _ask(
        device, f"{BASE}/j2/update", {"status": "IN_PROGRESS", "expectedVersion": "1"}
    )
    assert set(accepted) == {"timestamp"}
    assert [t for t, _ in _outbox(cloud)] == [f"{BASE}/notify-next"]

    topic, started = _ask(device, f"{BASE}/start-next", {"statusDetails": {"step": "a"}})
    assert topic == f"{BASE}/start-next/accepted"
    execution = started["execution"]
    assert execution["jobId"] == "j2" and execution["versionNumber"] == 2  # unchanged
    assert execution["statusDetails"] == {} and execution["jobDocument"] == DOC
    assert _outbox(cloud) == []

    _, described = _ask(device, f"{BASE}/j1/get", {"includeJobDocument": False})
    assert described["execution"]["status"] == "QUEUED"
    assert "jobDocument" not in described["execution"]
    _, nxt = _ask(device, f"{BASE}/$next/get", {})
    assert nxt["execution"]["jobId"] == "j2" and nxt["execution"]["jobDocument"] == DOC

    _, done = _ask(
        device,
        f"{BASE}/j2/update",
        {
            "status": "SUCCEEDED",
            "statusDetails": {"progress": "100%"},
            "includeJobExecutionState": True,
            "includeJobDocument": True,
            "clientToken": "c1",
        },
    )
    assert done["executionState"] == {
        "status": "SUCCEEDED",
        "statusDetails": {"progress": "100%"},
        "versionNumber": 3,
    }
    assert done["jobDocument"] == DOC and done["clientToken"] == "c1"
    messages = dict(_outbox(cloud))
    assert [s["jobId"] for s in messages[f"{BASE}/notify"]["jobs"]["QUEUED"]] == ["j1"]
    assert messages[f"{BASE}/notify-next"]["execution"]["jobId"] == "j1"

    topic, again = _ask(device, f"{BASE}/j2/update", {"status": "IN_PROGRESS", "clientToken": "x"})
    assert topic == f"{BASE}/j2/update/rejected"
    assert again["code"] == "InvalidStateTransition" and again["clientToken"] == "x"
    assert again["executionState"]["status"] == "SUCCEEDED"

    topic, stale = _ask(device, f"{BASE}/j1/update", {"status": "FAILED", "expectedVersion": 5})
    assert stale["code"] == "VersionMismatch" and stale["executionState"]["versionNumber"] == 1

    # the control plane takes j1 away: the list empties, notify-next carries no execution
    cloud.cancel_job("j1")
    messages = dict(_outbox(cloud))
    assert messages[f"{BASE}/notify"]["jobs"] == {}
    assert set(messages[f"{BASE}/notify-next"]) == {"timestamp"}
    _, gone = _ask(device, f"{BASE}/j1/update", {"status": "SUCCEEDED"})
    assert gone["code"] == "TerminalStateReached"
    _, empty = _ask(device, f"{BASE}/start-next", {"clientToken": "s"})
    assert set(empty) == {"timestamp", "clientToken"}
    _, none_next = _ask(device, f"{BASE}/$next/get", b"")
    assert set(none_next) == {"timestamp"}
    _, canceled = _ask(device, f"{BASE}/j1/get", {})  # described in every state
    assert canceled["execution"]["status"] == "CANCELED"


def test_deletions_and_membership_notify(cloud: Cloud) -> None:
    cloud.create_thing_group("fleet")
    cloud.create_job(
        "c1",
        [arn.thing_group_arn("fleet")],
        document=json.dumps(DOC),
        target_selection="CONTINUOUS",
    )
    assert _outbox(cloud) == []  # nobody in the group yet
    cloud.add_thing_to_thing_group(thing_group_name="fleet", thing_name="b2")
    messages = dict(_outbox(cloud))
    assert messages["$aws/things/b2/jobs/notify-next"]["execution"]["jobId"] == "c1"
    cloud.remove_thing_from_thing_group(thing_group_name="fleet", thing_name="b2")
    assert dict(_outbox(cloud))["$aws/things/b2/jobs/notify"]["jobs"] == {}

    _create(cloud, "d1", "b1")
    _outbox(cloud)
    cloud.delete_job("d1", force=True)
    assert set(dict(_outbox(cloud))) == {f"{BASE}/notify", f"{BASE}/notify-next"}


def test_requests_for_what_does_not_exist(cloud: Cloud) -> None:
    device = DeviceJobs(cloud.job_store)
    assert _ask(device, "$aws/things/ghost/jobs/get", {})[1]["code"] == "ResourceNotFound"
    assert _ask(device, f"{BASE}/nojob/get", {})[1]["code"] == "ResourceNotFound"
    assert _ask(device, f"{BASE}/nojob/update", {"status": "FAILED"})[1]["code"] == (
        "ResourceNotFound"
    )
    topic, bad = _ask(device, f"{BASE}/nojob/cancel", {"clientToken": "t"})
    assert topic == f"{BASE}/nojob/cancel/rejected" and bad["code"] == "InvalidTopic"
    # the service's own replies and notifications are not requests
    for own in ("get/accepted", "j1/update/rejected", "notify", "notify-next"):
        assert device.handle(f"{BASE}/{own}", b"{}") == []


# ---- malformed requests on every topic ---------------------------------------------------------

REQUEST_TOPICS = ("get", "start-next", "$next/get", "j1/get", "j1/update")
NOT_JSON = st.one_of(
    st.binary(min_size=1).filter(lambda b: not _is_json(b)),
    st.sampled_from([b"{", b"\xff\xfe", b"NaN", b'{"a":1e400}', b"[" * 5000, b'{"a":}']),
)
JSON_NOT_OBJECT = st.one_of(
    st.integers(), st.text(), st.lists(st.integers(), max_size=3), st.none(), st.booleans()
)
NOT_BOOL = st.one_of(st.integers(), st.text(max_size=5), st.none().map(lambda _: "true"))
WRONG_FIELDS = st.one_of(
    st.fixed_dictionaries({"clientToken": st.one_of(st.integers(), st.lists(st.text()))}),
    st.fixed_dictionaries({"statusDetails": st.one_of(st.integers(), st.text(max_size=3))}),
    st.fixed_dictionaries(
        {"statusDetails": st.dictionaries(st.just("bad key!"), st.text(min_size=1), min_size=1)}
    ),
    st.fixed_dictionaries({"statusDetails": st.just({"k": ""})}),
    st.fixed_dictionaries({"statusDetails": st.just({"k": "a\nb"})}),
    st.fixed_dictionaries({"includeJobDocument": NOT_BOOL}),
    st.fixed_dictionaries(
        {
            "executionNumber": st.one_of(
                st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=0)
            )
        }
    ),
    st.fixed_dictionaries(
        {"stepTimeoutInMinutes": st.one_of(st.integers(max_value=-2), st.integers(10081))}
    ),
)
# what each topic must say to a body with a wrong field (fields it does not read: accepted)
READS = {
    "get": {"clientToken"},
    "start-next": {"clientToken", "statusDetails", "stepTimeoutInMinutes"},
    "$next/get": {"clientToken", "includeJobDocument", "executionNumber"},
    "j1/get": {"clientToken", "includeJobDocument", "executionNumber"},
    "j1/update": {
        "clientToken",
        "statusDetails",
        "includeJobDocument",
        "executionNumber",
        "stepTimeoutInMinutes",
    },
}


def _is_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except (ValueError, RecursionError):
        return False
    return True


def _state(cloud: Cloud) -> list[tuple[Any, ...]]:
    db = cloud.store.read()
    return [tuple(r) for r in db.execute("SELECT * FROM job_executions ORDER BY job_id")]


@pytest.fixture
def queued(cloud: Cloud) -> Cloud:
    _create(cloud, "j1", "b1")
    _outbox(cloud)
    return cloud


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    suffix=st.sampled_from(REQUEST_TOPICS),
    kind=st.sampled_from(["not-json", "not-object", "wrong-field"]),
    data=st.data(),
)
def test_malformed_requests_are_rejected_with_the_documented_code(
    queued: Cloud, suffix: str, kind: str, data: st.DataObject
) -> None:
    device = DeviceJobs(queued.job_store)
    before = _state(queued)
    if kind == "not-json":
        payload, expected = data.draw(NOT_JSON), "InvalidJson"
    elif kind == "not-object":
        payload, expected = json.dumps(data.draw(JSON_NOT_OBJECT)).encode(), "InvalidRequest"
    else:
        body = data.draw(WRONG_FIELDS)
        if not set(body) & READS[suffix]:
            return  # a field this API does not read
        if suffix == "j1/update":
            body["status"] = "IN_PROGRESS"  # only the wrong field is wrong
        payload, expected = json.dumps(body).encode(), "InvalidRequest"
    topic, reply = _ask(device, f"{BASE}/{suffix}", payload)
    assert topic == f"{BASE}/{suffix}/rejected", reply
    assert reply["code"] == expected, (payload[:60], reply)
    assert isinstance(reply["message"], str) and isinstance(reply["timestamp"], int)
    assert "clientToken" not in reply  # none was given as a string
    assert _state(queued) == before and _outbox(queued) == []


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rest=st.text(alphabet="ab/$-+#", max_size=12), token=st.text(max_size=8))
def test_topics_that_map_to_no_api_are_invalid_topic(cloud: Cloud, rest: str, token: str) -> None:
    topic = f"{BASE}/{rest}"
    parts = rest.split("/")
    known = rest in ("get", "start-next", "notify", "notify-next") or (
        len(parts) == 2
        and parts[0] != ""
        and (parts[1] == "get" or (parts[1] == "update" and parts[0] != "$next"))
    )
    if known or parts[-1] in ("accepted", "rejected"):
        assert all(code != "InvalidTopic" for code in _codes(cloud, topic, token))
        return
    replies = DeviceJobs(cloud.job_store).handle(
        topic, json.dumps({"clientToken": token}).encode()
    )
    assert len(replies) == 1 and replies[0][0] == f"{topic}/rejected"
    assert replies[0][1]["code"] == "InvalidTopic"


def _codes(cloud: Cloud, topic: str, token: str) -> list[str]:
    payload = json.dumps({"clientToken": token}).encode()
    return [body.get("code", "") for _, body in DeviceJobs(cloud.job_store).handle(topic, payload)]
