"""`buttonrig/ping/<id>` → `buttonrig/pong/<id>` (same payload): is the cloud service alive, and
how long does a trip through it take (benchmark `service_ping_rtt_ms_p50`)."""

from __future__ import annotations

from rig.cloud.host.service import CloudService

PING_FILTER = "buttonrig/ping/+"


def register(service: CloudService) -> None:
    def pong(topic: str, payload: bytes) -> None:
        service.publish("buttonrig/pong/" + topic.rsplit("/", 1)[-1], payload)

    service.subscribe(PING_FILTER, pong)
