"""RequestThrottled: more than MAX_IN_FLIGHT requests of one thing taken in before they are
answered (one read of a burst) get RequestThrottled at once; other things are not held back."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from rig.cloud.jobs.device import DeviceJobs
from rig.cloud.jobs.mqtt import MAX_IN_FLIGHT, JobsResponder
from rig.mqtt.packets import Publish


class FakeService:
    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []
        self.take: Callable[[Publish], None] | None = None
        self.after_read: Callable[[], None] | None = None

    def tap(self, _subs: Any, on_message: Callable[[Publish], None], after: Any) -> None:
        self.take, self.after_read = on_message, after

    def publish(self, topic: str, body: Any, _qos: int = 1) -> None:
        self.published.append((topic, body))

    def send_now(self) -> None:
        pass


class AcceptingDevice:
    throttled = staticmethod(DeviceJobs.throttled)

    def handle(self, topic: str, payload: bytes) -> list[tuple[str, dict[str, Any]]]:
        return [(f"{topic}/accepted", json.loads(payload))]


def test_a_burst_beyond_the_in_flight_limit_is_throttled_per_thing() -> None:
    service = FakeService()
    JobsResponder(service, AcceptingDevice()).register()  # type: ignore[arg-type]
    assert service.take is not None and service.after_read is not None
    for n in range(MAX_IN_FLIGHT + 2):
        body = json.dumps({"clientToken": f"t{n}"}).encode()
        service.take(Publish("$aws/things/busy/jobs/get", body, 1, n + 1, False))
    service.take(Publish("$aws/things/calm/jobs/get", b'{"clientToken": "c"}', 1, 99, False))
    service.after_read()
    rejected = [(t, b) for t, b in service.published if t.endswith("/rejected")]
    assert [b["clientToken"] for _, b in rejected] == [
        f"t{MAX_IN_FLIGHT}",
        f"t{MAX_IN_FLIGHT + 1}",
    ]
    assert {b["code"] for _, b in rejected} == {"RequestThrottled"}
    assert all(t == "$aws/things/busy/jobs/get/rejected" for t, _ in rejected)
    accepted = [b["clientToken"] for t, b in service.published if t.endswith("/accepted")]
    assert accepted == [f"t{n}" for n in range(MAX_IN_FLIGHT)] + ["c"]
    # answered: the next read starts with nothing in flight
    service.published.clear()
    service.take(Publish("$aws/things/busy/jobs/get", b'{"clientToken": "again"}', 1, 7, False))
    service.after_read()
    assert service.published == [("$aws/things/busy/jobs/get/accepted", {"clientToken": "again"})]


def test_messages_on_other_topics_are_not_taken_for_jobs_requests() -> None:
    # every tap of the cloud's MQTT host sees every message it reads: a click on iotbutton/<dsn>
    # raised IndexError (logged with a traceback) in the jobs tap for each click
    service = FakeService()
    JobsResponder(service, AcceptingDevice()).register()  # type: ignore[arg-type]
    assert service.take is not None and service.after_read is not None
    service.take(Publish("iotbutton/G030PM0123456789", b'{"clickType": "SINGLE"}', 1, 1, False))
    service.take(Publish("$aws/things/t/shadow/update", b"{}", 1, 2, False))
    service.after_read()
    assert service.published == []
