"""The Jobs device API on MQTT, plugged into the cloud service (rig/cloud/host/service.py).

Requests on `$aws/things/+/jobs/+` and `$aws/things/+/jobs/+/+` (device.JOBS_FILTERS) are taken
in on the network thread as they are read and answered right after the read, oldest first, each
in one database transaction (rig/cloud/jobs/device.py), as the shadow's are
(rig/cloud/shadow/mqtt.py): no hop through the worker queue. The broker plugin has already
decided that the device may publish there (its policy must allow the thing's jobs topics, as the
shadow ones). Replies go out at QoS 1 (ours: the guide does not say), like the notify /
notify-next messages the outbox publishes.
"""

from __future__ import annotations

import logging
from collections import deque

from rig.cloud.host.service import CloudService
from rig.cloud.jobs.device import JOBS_FILTERS, JOBS_TOPIC, DeviceJobs
from rig.cloud.jobs.store import JobStore
from rig.mqtt.packets import Publish

JOBS_REPLY_QOS = 1
# Requests of one thing taken in and not answered yet above which RequestThrottled answers at
# once. Ours: the guide lists the code without a rate; the shadow's 429 limit, 10 in flight.
MAX_IN_FLIGHT = 10

log = logging.getLogger(__name__)


class JobsResponder:
    """Takes jobs requests in as they are read and answers them after the read."""

    def __init__(self, service: CloudService, device: DeviceJobs) -> None:
        self.service = service
        self.device = device
        self._requests: deque[tuple[str, bytes]] = deque()  # network thread only
        self._in_flight: dict[str, int] = {}  # thing -> requests taken in, not answered

    def register(self) -> None:
        self.service.tap([(f, 1) for f in JOBS_FILTERS], self._take, self._answer_requests)

    def _take(self, message: Publish) -> None:
        # every tap sees every message the host reads (clicks, shadows, …): only jobs are ours
        if JOBS_TOPIC.match(message.topic) is None:
            return
        thing = _thing_of(message.topic)
        if self._in_flight.get(thing, 0) >= MAX_IN_FLIGHT:
            for reply_topic, body in self.device.throttled(message.topic, message.payload):
                self.service.publish(reply_topic, body, JOBS_REPLY_QOS)  # written after this read
            return
        self._in_flight[thing] = self._in_flight.get(thing, 0) + 1
        self._requests.append((message.topic, message.payload))

    def _answer_requests(self) -> None:
        if not self._requests:
            return
        while self._requests:
            topic, payload = self._requests.popleft()
            thing = _thing_of(topic)
            left = self._in_flight.pop(thing, 1) - 1
            if left:
                self._in_flight[thing] = left
            try:
                replies = self.device.handle(topic, payload)
            except Exception:  # never let it reach the link: it would drop the connection
                log.exception("answering the jobs request on %s failed", topic)
                continue
            for reply_topic, body in replies:
                self.service.publish(reply_topic, body, JOBS_REPLY_QOS)
        self.service.send_now()


def _thing_of(topic: str) -> str:
    return topic.split("/", 3)[2]  # $aws/things/<thing>/jobs/...


def register(service: CloudService, jobs: JobStore) -> DeviceJobs:
    """Subscribe the jobs topics (before the service starts); the returned handler answers."""
    device = DeviceJobs(jobs)
    JobsResponder(service, device).register()
    return device
