"""AWS HTTP API benchmark (metric names: README "Benchmarks").

* `http_api_ms_p50`: the median round trip of boto3's `iot.describe_thing` (signing, HTTP/1.1 on
  a kept-alive loopback connection, routing by the botocore model, the registry read, the
  response parsed by botocore) against `buttonrig cloud up` in its own process: 200 calls after
  20 warm-up calls (--quick too: the figure is cheap).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import boto3.session
from botocore.config import Config

from rig.benchmarks.shadow import CloudProcess, Context

METRICS = ("http_api_ms_p50",)
WARM_UP = 20
CALLS = 200
THING = "bench-http"


def describe_thing_ms(workdir: Path) -> list[float]:
    home = workdir / "http-api-home"
    home.mkdir(mode=0o700)
    cloud_process = CloudProcess(home)
    try:
        url = cloud_process.data["api_url"]
        iot = boto3.session.Session().client(
            "iot",
            endpoint_url=url,
            region_name="us-east-1",
            config=Config(retries={"max_attempts": 1}),
            aws_access_key_id="AKIDEXAMPLE",  # any: the cloud does not check signatures
            aws_secret_access_key="bench",
        )
        iot.create_thing(thingName=THING)
        for _ in range(WARM_UP):
            iot.describe_thing(thingName=THING)
        samples = []
        for _ in range(CALLS):
            started = time.perf_counter()
            iot.describe_thing(thingName=THING)
            samples.append((time.perf_counter() - started) * 1000.0)
        return samples
    finally:
        cloud_process.stop()


def run(ctx: Context) -> dict[str, int | float]:
    samples = describe_thing_ms(ctx.workdir)
    return {"http_api_ms_p50": round(statistics.median(samples), 3)}
