"""Shadow service benchmarks (metric names: README "Benchmarks").

* `shadow_rtt_ratio`: median shadow update → /update/accepted round trip divided by the median
  raw MQTT echo (publish to a topic the same client subscribes to), same broker, same client,
  same run, interleaved; the median of 5 runs' ratios, with `_min` and `_max` of the 5 (goal
  ≤ 2.0, issue #10: the two broker traversals). `mqtt_echo_rtt_ms`: the median of the 5 runs'
  median echoes, with `_min` and `_max`. The components over all runs' samples, each as _p50
  and _p90: `shadow_update_rtt_ms`, `mqtt_echo_rtt_ms`, `service_ping_rtt_ms` (a trip through
  the cloud service that does no work) and `mqtt_relay_rtt_ms` (a trip through a relay in its
  own process that only re-publishes, on the service's own MQTT client:
  rig/benchmarks/_relay.py); `mqtt_relay_ratio` (median of the 5 runs' relay / echo) is the
  floor for a trip through the service (two broker traversals plus its client's own cost). The
  echo's client is paho, whose own cost per message is higher than the service's client's, so
  both ratios can be below 2.
* `cloud_restart_lost`: `buttonrig cloud up` in its own process is SIGKILLed during a stream of
  acknowledged shadow updates, restarted, and every acknowledged version newer than the stored
  shadow counts as lost. Also `cloud_restart_acknowledged` (how many were acknowledged).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import paho.mqtt.client as mqtt

from rig.cloud.api import Cloud
from rig.cloud.core import arn
from rig.mqtt.device_client import DeviceClient
from rig.mqtt.endpoint import BrokerEndpoint

_ROUND_TRIPS = (
    "shadow_update_rtt_ms",
    "mqtt_echo_rtt_ms",
    "service_ping_rtt_ms",
    "mqtt_relay_rtt_ms",
)
RUNS = 5
METRICS = (
    *(
        f"{name}{suffix}"
        for name in ("shadow_rtt_ratio", "mqtt_echo_rtt_ms")
        for suffix in ("", "_min", "_max")
    ),
    "mqtt_relay_ratio",
    *(f"{trip}_{q}" for trip in _ROUND_TRIPS for q in ("p50", "p90")),
    "cloud_restart_lost",
    "cloud_restart_acknowledged",
)
WAIT_S = 30.0


class Context(Protocol):
    workdir: Path
    quick: bool


def _policy(publish: list[str], receive: list[str]) -> str:
    """Publish to `publish`; subscribe to and receive `receive`."""
    allow = [("iot:Publish", arn.topic_arn(topic)) for topic in publish]
    for topic in receive:
        allow += [
            ("iot:Receive", arn.topic_arn(topic)),
            ("iot:Subscribe", arn.topicfilter_arn(topic)),
        ]
    statements = [{"Effect": "Allow", "Action": a, "Resource": r} for a, r in allow]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _echo_policy(thing: str) -> str:
    """Echo to itself; ping the service and receive its pong; send to the relay, hear it back."""
    echo, ping, pong = (
        f"bench/{thing}/echo",
        f"buttonrig/ping/{thing}",
        f"buttonrig/pong/{thing}",
    )
    relay_in, relay_out = _relay_topics(thing)
    return _policy([echo, ping, relay_in], [echo, pong, relay_out])


def _relay_topics(thing: str) -> tuple[str, str]:
    return f"bench/{thing}/relay-in", f"bench/{thing}/relay-out"


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _credentials(cloud: Cloud, thing: str, directory: Path) -> tuple[Path, Path, str]:
    provisioned = cloud.provision_button(thing)
    cert, key = directory / f"{thing}.crt.pem", directory / f"{thing}.key.pem"
    cert.write_text(provisioned["certificatePem"])
    key.write_text(provisioned["privateKeyPem"])
    key.chmod(0o600)
    return cert, key, provisioned["certificateArn"]


def _round_trip(client: DeviceClient, send_topic: str, reply_topic: str, payload: bytes) -> float:
    started = time.perf_counter()
    client.client.publish(send_topic, payload, qos=1)
    while True:
        message = client.messages.get(timeout=WAIT_S)
        if message.topic == reply_topic:
            return (time.perf_counter() - started) * 1000.0


def rtt_ratio(workdir: Path, samples: int) -> dict[str, float]:
    """The cloud runs in its own process (as `buttonrig cloud up`), the relay in another, the
    client in this one. One sample = echo, shadow update, ping and relay trips back to back;
    RUNS runs of `samples` each, one after the other on the same processes."""
    home = workdir / "rtt-home"
    home.mkdir(mode=0o700)
    cloud_process = CloudProcess(home)
    relay: RelayProcess | None = None
    try:
        cloud = Cloud(home)
        thing = "bench-rtt"
        cert, key, cert_arn = _credentials(cloud, thing, workdir)
        cloud.create_policy("bench-echo", _echo_policy(thing))
        cloud.attach_policy("bench-echo", cert_arn)
        relay_in, relay_out = _relay_topics(thing)
        relay_cert, relay_key, relay_arn = _credentials(cloud, "bench-relay", workdir)
        cloud.create_policy("bench-relay", _policy([relay_out], [relay_in]))
        cloud.attach_policy("bench-relay", relay_arn)
        cloud.close()
        relay = RelayProcess(home, relay_cert, relay_key, "bench-relay", relay_in, relay_out)
        client = DeviceClient(cloud_process.endpoint, cert, key, thing).connect()
        try:
            echo = f"bench/{thing}/echo"
            shadow = f"$aws/things/{thing}/shadow/update"
            ping, pong = f"buttonrig/ping/{thing}", f"buttonrig/pong/{thing}"
            trips = {
                "mqtt_echo_rtt_ms": (echo, echo),
                "shadow_update_rtt_ms": (shadow, f"{shadow}/accepted"),
                # a trip through the service doing no work: what its threads cost
                "service_ping_rtt_ms": (ping, pong),
                "mqtt_relay_rtt_ms": (relay_in, relay_out),
            }
            for _, reply in trips.values():
                client.subscribe(reply)
            names = list(trips)
            runs: list[dict[str, list[float]]] = []
            index = 0
            for run in range(RUNS):
                times: dict[str, list[float]] = {name: [] for name in trips}
                warm_up = 5 if run == 0 else 0  # the first few warm up caches and connections
                for sample in range(samples + warm_up):
                    index += 1
                    body = json.dumps({"state": {"reported": {"n": index}}}).encode()
                    # rotate the order: what a trip leaves behind (its PUBACKs, the /documents
                    # message) overlaps the next trip, so no kind may always come after the
                    # same one
                    shift = index % len(names)
                    for name in names[shift:] + names[:shift]:
                        send, reply = trips[name]
                        elapsed = _round_trip(client, send, reply, body)
                        if sample >= warm_up:
                            times[name].append(elapsed)
                runs.append(times)
        finally:
            client.close()
    finally:
        if relay is not None:
            relay.stop()
        cloud_process.stop()
    return _figures(runs)


def _figures(runs: list[dict[str, list[float]]]) -> dict[str, float]:
    """Per-run medians and ratios, summarised as the median of the runs and its range; each
    trip's p50 and p90 over all runs' samples."""
    results: dict[str, float] = {}
    for name in runs[0]:
        values = [elapsed for times in runs for elapsed in times[name]]
        results[f"{name}_p50"] = round(statistics.median(values), 3)
        results[f"{name}_p90"] = round(_percentile(values, 0.9), 3)
    medians = [{name: statistics.median(v) for name, v in times.items()} for times in runs]
    per_run = {
        "mqtt_echo_rtt_ms": [m["mqtt_echo_rtt_ms"] for m in medians],
        "shadow_rtt_ratio": [m["shadow_update_rtt_ms"] / m["mqtt_echo_rtt_ms"] for m in medians],
    }
    for name, values in per_run.items():
        results[name] = round(statistics.median(values), 3)
        results[f"{name}_min"] = round(min(values), 3)
        results[f"{name}_max"] = round(max(values), 3)
    results["mqtt_relay_ratio"] = round(
        statistics.median(m["mqtt_relay_rtt_ms"] / m["mqtt_echo_rtt_ms"] for m in medians), 3
    )
    return results


class RelayProcess:
    """rig/benchmarks/_relay.py in its own process, connected and subscribed once started."""

    def __init__(
        self, home: Path, cert: Path, key: Path, client_id: str, in_topic: str, out_topic: str
    ) -> None:
        ready = home / "relay.ready"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rig.benchmarks._relay",
                str(home / "endpoint.json"),
                str(cert),
                str(key),
                client_id,
                in_topic,
                out_topic,
                str(ready),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + WAIT_S
        while not ready.exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"the benchmark relay exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the benchmark relay was not ready within {WAIT_S:.0f} s")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


class CloudProcess:
    """`buttonrig cloud up` as a child process; `endpoint` once it is ready."""

    def __init__(self, home: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rig.cli", "--home", str(home), "cloud", "up"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        path = home / "endpoint.json"
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"cloud up exited with {self.process.returncode}")
            if path.exists():
                data = json.loads(path.read_text())
                if data.get("pid") == self.process.pid:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("cloud up did not write endpoint.json within 60 s")
            time.sleep(0.05)
        self.data: dict[str, Any] = data
        self.endpoint = BrokerEndpoint(data["host"], data["port"], Path(data["ca_file"]))

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def acknowledged_until_killed(
    cloud_process: CloudProcess,
    client: DeviceClient,
    request_topic: str,
    accepted_topic: str,
    body_of: Callable[[int], str],
    version_of: Callable[[bytes], int],
    before_kill: int,
) -> list[int]:
    """Stream requests (`body_of(sequence)`) with a few in flight, as a busy device would, and
    SIGKILL the cloud once `before_kill` were acknowledged: the version of every request the
    cloud acknowledged on `accepted_topic` (`version_of(payload)`), in reply order."""
    acknowledged: list[int] = []
    client.subscribe(accepted_topic)
    replies: queue.Queue[int] = queue.Queue()

    def on_message(_c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic == accepted_topic:
            replies.put(version_of(bytes(message.payload)))

    client.client.on_message = on_message
    stop_streaming = threading.Event()
    window = 4

    def stream() -> None:
        sequence = 0
        in_flight = 0
        while not stop_streaming.is_set():
            while in_flight < window and not stop_streaming.is_set():
                client.client.publish(request_topic, body_of(sequence), qos=1)
                sequence += 1
                in_flight += 1
            try:
                acknowledged.append(replies.get(timeout=2.0))
                in_flight -= 1
            except queue.Empty:
                return  # the cloud is gone

    streamer = threading.Thread(target=stream, daemon=True)
    streamer.start()
    deadline = time.monotonic() + 120
    while len(acknowledged) < before_kill and time.monotonic() < deadline:
        time.sleep(0.005)
    cloud_process.kill()  # SIGKILL mid-stream: no clean-up of any kind
    stop_streaming.set()
    streamer.join(10)
    client.client.loop_stop()
    return list(acknowledged)


def restart_lost(workdir: Path, before_kill: int) -> dict[str, int]:
    home = workdir / "restart-home"
    home.mkdir(mode=0o700)
    thing = "bench-restart"
    cloud_process = CloudProcess(home)
    try:
        cloud = Cloud(home)
        cert, key, _ = _credentials(cloud, thing, workdir)
        client = DeviceClient(cloud_process.endpoint, cert, key, thing).connect()
        base = f"$aws/things/{thing}/shadow/update"
        acknowledged = acknowledged_until_killed(
            cloud_process,
            client,
            base,
            f"{base}/accepted",
            lambda sequence: json.dumps({"state": {"reported": {"seq": sequence}}}),
            lambda payload: int(json.loads(payload)["version"]),
            before_kill,
        )
        cloud.close()
    finally:
        cloud_process.stop()
    restarted = CloudProcess(home)
    try:
        stored = json.loads(Cloud(home).get_thing_shadow(thing))
    finally:
        restarted.stop()
    lost = [version for version in acknowledged if version > stored["version"]]
    return {"cloud_restart_lost": len(lost), "cloud_restart_acknowledged": len(acknowledged)}


def run(ctx: Context) -> dict[str, int | float]:
    results: dict[str, int | float] = {}
    results.update(rtt_ratio(ctx.workdir, samples=50 if ctx.quick else 300))
    results.update(restart_lost(ctx.workdir, before_kill=50 if ctx.quick else 400))
    return results
