"""The clicks service on MQTT: every message on `iotbutton/+` goes to the click log (worker
thread of the cloud service, in arrival order)."""

from __future__ import annotations

from rig.cloud.clicks.engine import CLICK_FILTER
from rig.cloud.clicks.store import ClickLog
from rig.cloud.host.service import CloudService


def register(service: CloudService, clicks: ClickLog) -> None:
    def on_click(topic: str, payload: bytes) -> None:
        clicks.record(topic, payload)

    service.subscribe(CLICK_FILTER, on_click)
