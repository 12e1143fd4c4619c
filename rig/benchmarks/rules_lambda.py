"""Local Lambda functions and the rules engine: how long an invocation takes, and how long from a
device's publish to the first line of the function a rule invokes.

* `lambda_invoke_cold_ms_p50` / `lambda_invoke_warm_ms_p50` / `lambda_invoke_warm_ms_p99`: a
  RequestResponse invocation through `Functions.invoke` (logs written), in a new worker process
  (cold: the process started, the bootstrap and the handler imported) or in the warm one
  (docs/cloud-decisions.md L-2: why functions stay warm).
* `publish_to_function_ms_p50` / `_p99`: a device publishes (paho, mTLS, the real broker) on
  `iotbutton/<thing>`; a topic rule `SELECT * FROM 'iotbutton/<thing>'` with a lambda action
  invokes the function asynchronously (the durable event, the dispatcher, the warm worker); the
  figure is from just before the publish to the function's first line, both on the host's
  CLOCK_MONOTONIC (`time.monotonic()` in both processes). One publish at a time, each waited for.
"""

from __future__ import annotations

import io
import json
import math
import time
import zipfile
from pathlib import Path
from typing import Any

from rig.cloud.api import Cloud
from rig.cloud.runtime import temporary_cloud
from rig.mqtt.device_client import DeviceClient

METRICS = (
    "lambda_invoke_cold_ms_p50",
    "lambda_invoke_warm_ms_p50",
    "lambda_invoke_warm_ms_p99",
    "publish_to_function_ms_p50",
    "publish_to_function_ms_p99",
)
FUNCTION = """
import time

def handler(event, context):
    first_line = time.monotonic()
    print("first-line", event.get("n"), repr(first_line))
    return event
"""
MARK = "first-line"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bench.py", FUNCTION)
    return buffer.getvalue()


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(share * len(ordered)) - 1)], 2)  # nearest rank


def _invocations(workdir: Path, cold_runs: int, warm_runs: int) -> dict[str, float]:
    cloud = Cloud(workdir / "invoke-home")
    try:
        functions = cloud.functions
        functions.create_function("Bench", "python3.12", "bench.handler", _zip())
        cold: list[float] = []
        warm: list[float] = []
        for _ in range(cold_runs):
            functions.pool.retire("Bench")
            started = time.perf_counter()
            functions.invoke("Bench", b'{"n": 0}')
            cold.append((time.perf_counter() - started) * 1000)
            for _ in range(warm_runs // cold_runs):
                started = time.perf_counter()
                outcome = functions.invoke("Bench", b'{"n": 0}')
                if "FunctionError" in outcome:
                    raise RuntimeError(f"the benchmark function failed: {outcome}")
                warm.append((time.perf_counter() - started) * 1000)
    finally:
        cloud.close()
    return {
        "lambda_invoke_cold_ms_p50": _percentile(cold, 0.5),
        "lambda_invoke_warm_ms_p50": _percentile(warm, 0.5),
        "lambda_invoke_warm_ms_p99": _percentile(warm, 0.99),
    }


def _first_lines(cloud: Cloud, after: int) -> dict[int, float]:
    found = {}
    for row in cloud.functions.store.log_events("/aws/lambda/RuleBench", after):
        words = row["message"].split()
        if words and words[0] == MARK:
            found[int(words[1])] = float(words[2])
    return found


def _publish_to_function(workdir: Path, publishes: int) -> dict[str, float]:
    del workdir
    thing = "G030JF0BENCHRULE"
    with temporary_cloud("bench-rules-") as runtime:
        cloud = runtime.cloud
        arn = cloud.functions.create_function("RuleBench", "python3.12", "bench.handler", _zip())[
            "FunctionArn"
        ]
        rule = {
            "sql": f"SELECT * FROM 'iotbutton/{thing}'",
            "actions": [{"lambda": {"functionArn": arn}}],
        }
        cloud.create_topic_rule("RuleBench", rule)
        provisioned = cloud.provision_button(thing)
        cert, key = runtime.home / "bench.crt", runtime.home / "bench.key"
        cert.write_text(provisioned["certificatePem"])
        key.write_text(provisioned["privateKeyPem"])
        assert runtime.endpoint is not None
        device = DeviceClient(runtime.endpoint, cert, key, thing).connect()
        try:
            time.sleep(0.5)  # the rule's subscription
            latencies: list[float] = []
            for n in range(-1, publishes):  # n = -1 warms the function up, not counted
                message: dict[str, Any] = {  # a valid click message, as a button sends
                    "serialNumber": thing,
                    "clickType": "SINGLE",
                    "batteryVoltage": "1666mV",
                    "reportedTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                    "eventId": f"{n + 2:016x}",
                    "n": n,
                }
                sent = time.monotonic()
                device.publish(f"iotbutton/{thing}", json.dumps(message))
                deadline = sent + 20
                while n not in (lines := _first_lines(cloud, 0)):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"publish {n} never reached the function")
                    time.sleep(0.002)
                if n >= 0:
                    latencies.append((lines[n] - sent) * 1000)
        finally:
            device.close()
    return {
        "publish_to_function_ms_p50": _percentile(latencies, 0.5),
        "publish_to_function_ms_p99": _percentile(latencies, 0.99),
    }


def run(ctx: Any) -> dict[str, int | float]:
    figures: dict[str, int | float] = {}
    figures.update(_invocations(ctx.workdir, 3 if ctx.quick else 10, 30 if ctx.quick else 200))
    figures.update(_publish_to_function(ctx.workdir, 30 if ctx.quick else 200))
    return figures
