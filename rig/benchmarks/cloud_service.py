"""Benchmark: clicks lost while the cloud service restarts and the broker stays up.

* `cloud_service_restart_clicks_lost` (goal 0): a device publishes click messages at QoS 1 one
  after another, each waiting for its PUBACK, while the cloud's MQTT host and its services are
  stopped and started again (`CloudRuntime.restart_service`, the broker running on). Every click
  the broker acknowledged and the click log does not hold 10 s later counts as lost. The median of
  5 runs, with `_min` and `_max`: how many fall into the restart varies from run to run.
* `cloud_service_restart_clicks_acknowledged`: the median number of clicks the broker acknowledged
  between the start of the stop and the end of the start (how much the restart was tested with).
"""

from __future__ import annotations

import json
import statistics
import threading
import time
import uuid
from pathlib import Path
from typing import Protocol

from rig.cloud.clicks.store import ClickLog
from rig.cloud.runtime import CloudRuntime, temporary_cloud
from rig.mqtt.device_client import DeviceClient

RUNS = 5
DOWN_S = 0.5  # how long the service stays away: clicks pile up at the broker meanwhile
SETTLE_S = 10.0
THING = "bench-service-restart"

METRICS = (
    "cloud_service_restart_clicks_lost",
    "cloud_service_restart_clicks_lost_min",
    "cloud_service_restart_clicks_lost_max",
    "cloud_service_restart_clicks_acknowledged",
)


class Context(Protocol):
    workdir: Path
    quick: bool


class ClickStream:
    """Click messages from one device, one at a time, each once its predecessor's PUBACK is in;
    the eventIds the broker acknowledged, and which of them while `restarting` was set."""

    def __init__(self, client: DeviceClient) -> None:
        self._client = client
        self.acknowledged: list[str] = []
        self.during_restart: list[str] = []
        self.restarting = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="click-stream", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        topic = f"iotbutton/{self._client.client_id}"
        while not self._stop.is_set():
            event_id = uuid.uuid4().hex[:16]
            message = {
                "serialNumber": self._client.client_id,
                "batteryVoltage": "3000mV",
                "clickType": "SINGLE",
                "reportedTime": "2026-01-01T00:00:00.000Z",
                "eventId": event_id,
            }
            during = self.restarting.is_set()
            self._client.publish(topic, json.dumps(message))  # returns on the PUBACK
            self.acknowledged.append(event_id)
            if during or self.restarting.is_set():
                self.during_restart.append(event_id)
            time.sleep(0.01)  # a busy button, not a flood


def one_run(runtime: CloudRuntime, directory: Path, run: int) -> tuple[int, int]:
    """(clicks lost, clicks acknowledged during the restart) of one restart."""
    thing = f"{THING}-{run}"
    issued = runtime.cloud.provision_button(thing)
    cert, key = directory / f"{thing}.crt.pem", directory / f"{thing}.key.pem"
    cert.write_text(issued["certificatePem"])
    key.write_text(issued["privateKeyPem"])
    key.chmod(0o600)
    assert runtime.endpoint is not None
    client = DeviceClient(runtime.endpoint, cert, key, thing).connect()
    clicks = ClickLog(runtime.cloud.store)
    stream = ClickStream(client)
    try:
        stream.start()
        time.sleep(0.3)  # the stream runs before the restart

        def while_down() -> None:
            time.sleep(DOWN_S)

        stream.restarting.set()
        runtime.restart_service(while_down=while_down)
        stream.restarting.clear()
        time.sleep(0.3)  # and after it
    finally:
        stream.stop()
        client.close()
    deadline = time.monotonic() + SETTLE_S
    while True:
        recorded = {c.event_id for c in clicks.clicks(thing)}
        missing = set(stream.acknowledged) - recorded
        if not missing or time.monotonic() > deadline:
            return len(missing), len(stream.during_restart)
        time.sleep(0.1)


def run(ctx: Context) -> dict[str, int | float]:
    lost: list[int] = []
    acknowledged: list[int] = []
    with temporary_cloud(prefix="bench-service-restart-") as runtime:
        for attempt in range(RUNS):
            run_lost, run_acknowledged = one_run(runtime, ctx.workdir, attempt)
            lost.append(run_lost)
            acknowledged.append(run_acknowledged)
    print(f"cloud service restart: lost per run {lost}, acknowledged during it {acknowledged}")
    return {
        "cloud_service_restart_clicks_lost": statistics.median(lost),
        "cloud_service_restart_clicks_lost_min": min(lost),
        "cloud_service_restart_clicks_lost_max": max(lost),
        "cloud_service_restart_clicks_acknowledged": statistics.median(acknowledged),
    }
