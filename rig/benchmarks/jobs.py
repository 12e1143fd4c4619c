"""Jobs device API benchmark (metric names: README "Benchmarks").

* `jobs_rtt_ratio`: median `$aws/things/<thing>/jobs/<jobId>/update` → `/update/accepted` round
  trip (an IN_PROGRESS execution's statusDetails changed, the execution stored and its version
  raised) divided by the median raw MQTT echo (publish to a topic the same client subscribes
  to), same broker, same client, same run, interleaved; the median of 5 runs' ratios, with
  `_min` and `_max` of the 5 (goal ≤ 2.5, issue #12). `jobs_update_rtt_ms_p50` / `_p90` over all
  runs' samples. The cloud runs in its own process, as `buttonrig cloud up`.
* `jobs_restart_lost`: `buttonrig cloud up` in its own process is SIGKILLed during a stream of
  acknowledged `jobs/<jobId>/update` requests (IN_PROGRESS with a changing statusDetails and
  `includeJobExecutionState`), restarted, and every acknowledged execution version newer than
  the stored one counts as lost (goal 0, issue #12). Also `jobs_restart_acknowledged` (how many
  were acknowledged before the kill).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from rig.benchmarks.shadow import (
    CloudProcess,
    Context,
    _credentials,
    _policy,
    _round_trip,
    acknowledged_until_killed,
)
from rig.cloud.api import Cloud
from rig.cloud.core import arn
from rig.mqtt.device_client import DeviceClient

RUNS = 5
METRICS = (
    "jobs_rtt_ratio",
    "jobs_rtt_ratio_min",
    "jobs_rtt_ratio_max",
    "jobs_update_rtt_ms_p50",
    "jobs_update_rtt_ms_p90",
    "jobs_restart_lost",
    "jobs_restart_acknowledged",
)
JOB_ID = "bench-job"


def rtt_ratio(workdir: Path, samples: int) -> dict[str, float]:
    home = workdir / "jobs-rtt-home"
    home.mkdir(mode=0o700)
    cloud_process = CloudProcess(home)
    try:
        cloud = Cloud(home)
        thing = "bench-jobs"
        cert, key, cert_arn = _credentials(cloud, thing, workdir)
        echo = f"bench/{thing}/echo"
        update = f"$aws/things/{thing}/jobs/{JOB_ID}/update"
        accepted, rejected = f"{update}/accepted", f"{update}/rejected"
        cloud.create_policy("bench-jobs", _policy([echo, update], [echo, accepted, rejected]))
        cloud.attach_policy("bench-jobs", cert_arn)
        cloud.create_job(JOB_ID, [arn.thing_arn(thing)], document=json.dumps({"op": "bench"}))
        cloud.close()
        client = DeviceClient(cloud_process.endpoint, cert, key, thing).connect()
        try:
            for topic in (echo, accepted, rejected):
                client.subscribe(topic)
            start = json.dumps({"status": "IN_PROGRESS"}).encode()
            if not _accepted(client, update, accepted, rejected, start):
                raise RuntimeError(f"the job execution could not start: {rejected}")
            echoes: list[list[float]] = []
            updates: list[list[float]] = []
            index = 0
            for run in range(RUNS):
                run_echoes: list[float] = []
                run_updates: list[float] = []
                warm_up = 5 if run == 0 else 0
                for sample in range(samples + warm_up):
                    index += 1
                    body = json.dumps(
                        {"status": "IN_PROGRESS", "statusDetails": {"step": str(index)}}
                    ).encode()
                    # alternate which goes first: what one leaves behind overlaps the next
                    order = [(echo, echo), (update, accepted)]
                    for send, reply in order if index % 2 else order[::-1]:
                        elapsed = _round_trip(client, send, reply, body)
                        if sample >= warm_up:
                            (run_echoes if send == echo else run_updates).append(elapsed)
                echoes.append(run_echoes)
                updates.append(run_updates)
        finally:
            client.close()
    finally:
        cloud_process.stop()
    return _figures(echoes, updates)


def _accepted(
    client: DeviceClient, send: str, accepted: str, rejected: str, payload: bytes
) -> bool:
    """Whether one request is answered on `accepted` (not `rejected`)."""
    client.client.publish(send, payload, qos=1)
    while True:
        message = client.messages.get(timeout=30.0)
        if message.topic in (accepted, rejected):
            return message.topic == accepted


def _figures(echoes: list[list[float]], updates: list[list[float]]) -> dict[str, float]:
    ratios = [
        statistics.median(u) / statistics.median(e) for e, u in zip(echoes, updates, strict=True)
    ]
    everything = sorted(t for run in updates for t in run)
    p90 = everything[min(len(everything) - 1, int(0.9 * len(everything)))]
    return {
        "jobs_rtt_ratio": round(statistics.median(ratios), 3),
        "jobs_rtt_ratio_min": round(min(ratios), 3),
        "jobs_rtt_ratio_max": round(max(ratios), 3),
        "jobs_update_rtt_ms_p50": round(statistics.median(everything), 3),
        "jobs_update_rtt_ms_p90": round(p90, 3),
    }


def restart_lost(workdir: Path, before_kill: int) -> dict[str, int]:
    home = workdir / "jobs-restart-home"
    home.mkdir(mode=0o700)
    thing = "bench-jobs-restart"
    cloud_process = CloudProcess(home)
    try:
        cloud = Cloud(home)
        cert, key, _ = _credentials(cloud, thing, workdir)  # its policy allows jobs/*
        cloud.create_job(JOB_ID, [arn.thing_arn(thing)], document=json.dumps({"op": "bench"}))
        client = DeviceClient(cloud_process.endpoint, cert, key, thing).connect()
        update = f"$aws/things/{thing}/jobs/{JOB_ID}/update"
        acknowledged = acknowledged_until_killed(
            cloud_process,
            client,
            update,
            f"{update}/accepted",
            lambda sequence: json.dumps(
                {
                    "status": "IN_PROGRESS",
                    "statusDetails": {"seq": str(sequence)},
                    "includeJobExecutionState": True,
                }
            ),
            lambda payload: int(json.loads(payload)["executionState"]["versionNumber"]),
            before_kill,
        )
        cloud.close()
    finally:
        cloud_process.stop()
    restarted = CloudProcess(home)
    try:
        cloud = Cloud(home)
        stored = cloud.describe_job_execution(JOB_ID, thing)["execution"]["versionNumber"]
        cloud.close()
    finally:
        restarted.stop()
    lost = [version for version in acknowledged if version > stored]
    return {"jobs_restart_lost": len(lost), "jobs_restart_acknowledged": len(acknowledged)}


def run(ctx: Context) -> dict[str, int | float]:
    results: dict[str, int | float] = dict(
        rtt_ratio(ctx.workdir, samples=50 if ctx.quick else 300)
    )
    results.update(restart_lost(ctx.workdir, before_kill=50 if ctx.quick else 400))
    return results
