"""The Jobs device API on MQTT, plugged into the cloud service (rig/cloud/host/service.py).

Requests on `$aws/things/+/jobs/+` and `$aws/things/+/jobs/+/+` (device.JOBS_FILTERS) are
answered on the service's worker thread, in arrival order, each in one database transaction
(rig/cloud/jobs/device.py); the broker plugin has already decided that the device may publish
there (its policy must allow the thing's jobs topics, as the shadow ones). Replies go out at
QoS 1 (ours: the guide does not say), like the notify / notify-next messages the outbox
publishes.
"""

from __future__ import annotations

from rig.cloud.host.service import CloudService
from rig.cloud.jobs.device import JOBS_FILTERS, DeviceJobs
from rig.cloud.jobs.store import JobStore

JOBS_REPLY_QOS = 1


def register(service: CloudService, jobs: JobStore) -> DeviceJobs:
    """Subscribe the jobs topics; the returned handler answers them."""
    device = DeviceJobs(jobs)

    def on_request(topic: str, payload: bytes) -> None:
        for reply_topic, body in device.handle(topic, payload):
            service.publish(reply_topic, body, JOBS_REPLY_QOS)

    for topic_filter in JOBS_FILTERS:
        service.subscribe(topic_filter, on_request)
    return device
