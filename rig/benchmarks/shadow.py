"""Shadow service benchmarks (metric names: DESIGN.md "Measured, not asserted").

* `shadow_rtt_ratio`: median shadow update → /update/accepted round trip divided by the median
  raw MQTT echo (publish to a topic the same client subscribes to), same broker, same client,
  same run, interleaved. Also `shadow_update_rtt_ms_p50`, `mqtt_echo_rtt_ms_p50` and
  `service_ping_rtt_ms_p50` (a trip through the cloud service that does no work).
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
from pathlib import Path
from typing import Any, Protocol

import paho.mqtt.client as mqtt

from rig.broker import BrokerEndpoint
from rig.cloud import arn
from rig.cloud.api import Cloud
from rig.cloud.pytest_fixtures import DeviceClient

WAIT_S = 30.0


class Context(Protocol):
    workdir: Path
    quick: bool


def _echo_policy(thing: str) -> str:
    """Publish and receive the echo topic; ping the service and receive its pong."""
    echo, ping, pong = (
        f"bench/{thing}/echo",
        f"buttonrig/ping/{thing}",
        f"buttonrig/pong/{thing}",
    )
    allow = [
        ("iot:Publish", arn.topic_arn(echo)),
        ("iot:Receive", arn.topic_arn(echo)),
        ("iot:Subscribe", arn.topicfilter_arn(echo)),
        ("iot:Publish", arn.topic_arn(ping)),
        ("iot:Receive", arn.topic_arn(pong)),
        ("iot:Subscribe", arn.topicfilter_arn(pong)),
    ]
    statements = [{"Effect": "Allow", "Action": a, "Resource": r} for a, r in allow]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


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
    """The cloud runs in its own process (as `buttonrig cloud up`), the client in this one."""
    home = workdir / "rtt-home"
    home.mkdir(mode=0o700)
    cloud_process = CloudProcess(home)
    try:
        cloud = Cloud(home)
        thing = "bench-rtt"
        cert, key, cert_arn = _credentials(cloud, thing, workdir)
        cloud.create_policy("bench-echo", _echo_policy(thing))
        cloud.attach_policy("bench-echo", cert_arn)
        cloud.close()
        client = DeviceClient(cloud_process.endpoint, cert, key, thing).connect()
        try:
            echo = f"bench/{thing}/echo"
            shadow = f"$aws/things/{thing}/shadow/update"
            ping, pong = f"buttonrig/ping/{thing}", f"buttonrig/pong/{thing}"
            client.subscribe(echo)
            client.subscribe(pong)
            client.subscribe(f"{shadow}/accepted")
            echo_ms: list[float] = []
            shadow_ms: list[float] = []
            ping_ms: list[float] = []
            for index in range(samples + 5):  # the first few warm up caches and connections
                body = json.dumps({"state": {"reported": {"n": index}}}).encode()
                e = _round_trip(client, echo, echo, body)
                s = _round_trip(client, shadow, f"{shadow}/accepted", body)
                p = _round_trip(client, ping, pong, body)
                if index >= 5:
                    echo_ms.append(e)
                    shadow_ms.append(s)
                    ping_ms.append(p)
        finally:
            client.close()
    finally:
        cloud_process.stop()
    echo_p50, shadow_p50 = statistics.median(echo_ms), statistics.median(shadow_ms)
    return {
        "shadow_rtt_ratio": round(shadow_p50 / echo_p50, 3),
        "shadow_update_rtt_ms_p50": round(shadow_p50, 3),
        "mqtt_echo_rtt_ms_p50": round(echo_p50, 3),
        # a trip through the service doing no work: what the service's threads cost
        "service_ping_rtt_ms_p50": round(statistics.median(ping_ms), 3),
    }


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


def restart_lost(workdir: Path, before_kill: int) -> dict[str, int]:
    home = workdir / "restart-home"
    home.mkdir(mode=0o700)
    thing = "bench-restart"
    cloud_process = CloudProcess(home)
    acknowledged: list[int] = []
    try:
        cloud = Cloud(home)
        cert, key, _ = _credentials(cloud, thing, workdir)
        client = DeviceClient(cloud_process.endpoint, cert, key, thing).connect()
        base = f"$aws/things/{thing}/shadow/update"
        client.subscribe(f"{base}/accepted")
        replies: queue.Queue[int] = queue.Queue()

        def on_message(_c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
            if message.topic == f"{base}/accepted":
                replies.put(int(json.loads(message.payload)["version"]))

        client.client.on_message = on_message
        stop_streaming = threading.Event()
        window = 4  # a few requests in flight, as a busy device would have

        def stream() -> None:
            sequence = 0
            in_flight = 0
            while not stop_streaming.is_set():
                while in_flight < window and not stop_streaming.is_set():
                    body = json.dumps({"state": {"reported": {"seq": sequence}}})
                    client.client.publish(base, body, qos=1)
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
