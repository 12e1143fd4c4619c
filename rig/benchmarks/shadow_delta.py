"""A desired setting reaching an awake button and coming back as its reported state.

One emulated button (firmware and shims as .mpy) is set up the customer's way against a real
broker and the reference cloud; its shadow agent (firmware/shadowagent.py) has reported once. Then,
60 times (10 with --quick), the double-click window is desired through the cloud's API (as
`aws iot-data update-thing-shadow` does), alternating between two values so each is a change.
One sample: from that call's return (the update accepted at the cloud) to the moment an observer
subscribed to the thing's `shadow/update/accepted` receives the board's reported update carrying
the new value (the cloud acknowledged the report): delta to the board, validation, settings
written to the flash, report, cloud update. The observer is another MQTT client with its own
certificate, allowed to receive that topic only.

Metrics: `shadow_delta_apply_ms_p50`, `shadow_delta_apply_ms_p99` (nearest rank, 60 samples).
"""

from __future__ import annotations

import json
import math
import queue
import time
import uuid
from pathlib import Path
from typing import Any

from rig.backends.local import local_backend
from rig.cloud.core import arn
from rig.cloud.core.errors import ResourceNotFoundException
from rig.cloud.runtime import CloudRuntime, temporary_cloud
from rig.drivers.emulated import EmulatedBoard
from rig.mqtt.device_client import DeviceClient
from rig.strategies.provisioning import CustomerSetup

METRICS = ("shadow_delta_apply_ms_p50", "shadow_delta_apply_ms_p99")
SAMPLES = 60
SAMPLES_QUICK = 10
WINDOWS = (500, 600)  # double_ms values desired in turn
HEAPSIZE = "160K"
WAIT_S = 60.0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _observer_policy(topic: str) -> str:
    # connecting as itself: provision_button's own policy
    allow = [
        ("iot:Subscribe", arn.topicfilter_arn(topic)),
        ("iot:Receive", arn.topic_arn(topic)),
    ]
    statements = [{"Effect": "Allow", "Action": a, "Resource": r} for a, r in allow]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _reported_double_ms(client: DeviceClient, value: int, deadline: float) -> float:
    """The receive time (time.monotonic) of the board's reported update with `value`."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"the board never reported double_ms {value}")
        try:
            message = client.messages.get(timeout=left)
        except queue.Empty:
            continue
        state = json.loads(message.payload).get("state", {})
        if state.get("reported", {}).get("double_ms") == value:
            return message.timestamp


def _wait_reported(cloud: Any, thing: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            if "fw" in json.loads(cloud.get_thing_shadow(thing))["state"].get("reported", {}):
                return
        except ResourceNotFoundException:
            pass  # not created yet
        time.sleep(0.1)
    raise TimeoutError("the board never reported its shadow")


def _samples(runtime: CloudRuntime, board: EmulatedBoard, workdir: Path, n: int) -> list[float]:
    cloud, endpoint = runtime.cloud, runtime.endpoint
    assert endpoint is not None
    setup = CustomerSetup(local_backend(runtime)).provision(board)
    thing = setup.serial
    accepted = f"$aws/things/{thing}/shadow/update/accepted"
    observer = cloud.provision_button(f"observer-{uuid.uuid4().hex[:8]}")
    cloud.create_policy("observe-shadow", _observer_policy(accepted))
    cloud.attach_policy("observe-shadow", observer["certificateArn"])
    cert, key = workdir / "observer.crt.pem", workdir / "observer.key.pem"
    cert.write_text(observer["certificatePem"])
    key.write_text(observer["privateKeyPem"])
    key.chmod(0o600)
    client = DeviceClient(endpoint, cert, key, observer["thingName"]).connect()
    try:
        if client.subscribe(accepted) != [1]:
            raise RuntimeError(f"the observer may not subscribe to {accepted}")
        # the agent's first report (on connect) is in: the board is awake and serving
        _wait_reported(cloud, thing)
        out: list[float] = []
        for i in range(n):
            value = WINDOWS[i % 2]
            body = {"state": {"desired": {"double_ms": value}}}
            cloud.update_thing_shadow(thing, json.dumps(body).encode())
            accepted_at = time.monotonic()
            received = _reported_double_ms(client, value, accepted_at + WAIT_S)
            out.append((received - accepted_at) * 1000.0)
        return out
    finally:
        client.close()


def run(ctx: Any) -> dict[str, float | int]:
    n = SAMPLES_QUICK if ctx.quick else SAMPLES
    with temporary_cloud("shadow-delta-") as runtime:
        assert runtime.endpoint is not None
        board = EmulatedBoard(
            ctx.workdir / "bench",
            "bench",
            heapsize=HEAPSIZE,
            mpy=True,
            unique_id=uuid.uuid4().hex[:12],
        )
        board.deploy({})
        board.start()
        board.expect("boot", WAIT_S)
        try:
            samples = _samples(runtime, board, ctx.workdir, n)
        finally:
            board.close()
    if len(samples) != n:
        raise RuntimeError(f"{len(samples)} samples, wanted {n}")
    return {
        "shadow_delta_apply_ms_p50": round(percentile(samples, 50), 1),
        "shadow_delta_apply_ms_p99": round(percentile(samples, 99), 1),
    }
