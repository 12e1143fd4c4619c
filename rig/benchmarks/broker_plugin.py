"""What the broker plugin (rig/broker_plugin/) costs a message (metric names: README "Benchmarks").

Two mosquittos side by side, same TLS material, same machine: one with the plugin deciding a
device's permissions from a real policy (rig/cloud/auth/decisions.py), one bare
(`allow_anonymous true`, no plugin). One paho client on each, the same certificate and client id,
echoes a QoS 1 message through its broker (publish to a topic it subscribes to); the two echoes
alternate, so both brokers see the same machine load.

* `mqtt_echo_rtt_ms_plugin`, `mqtt_echo_rtt_ms_bare`: the median of 5 runs of each run's median
  echo, with `_min` and `_max` of the 5 (the range);
* `broker_plugin_cost_ratio`: plugin / bare of those medians (goal ≤ 1.10, issue #10).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from pathlib import Path
from typing import Protocol

from rig.broker import LOOPBACK, RuntimeDirectory, find_mosquitto, free_port, plugin_library
from rig.cloud.api import Cloud
from rig.cloud.auth.decisions import ConnectionDecider
from rig.cloud.auth.plugin_server import PluginServer
from rig.cloud.core import arn
from rig.mqtt.device_client import DeviceClient
from rig.mqtt.endpoint import BrokerEndpoint, ClientIdentity
from rig.mqtt.handshake import mqtt_handshake

RUNS = 5
METRICS = (
    *(
        f"mqtt_echo_rtt_ms_{name}{suffix}"
        for name in ("plugin", "bare")
        for suffix in ("", "_min", "_max")
    ),
    "broker_plugin_cost_ratio",
)
WAIT_S = 20.0


class Context(Protocol):
    workdir: Path
    quick: bool


def _config(port: int, runtime: Path, auth_socket: Path | None) -> str:
    lines = [
        "per_listener_settings false",
        "persistence false",
        "log_dest none",
        "set_tcp_nodelay true",
    ]
    if auth_socket is None:
        lines.append("allow_anonymous true")
    else:
        lines += [
            "allow_anonymous false",
            f"plugin {runtime / 'buttonrig_auth.so'}",
            f"plugin_opt_socket {auth_socket}",
        ]
    lines += [
        f"listener {port} {LOOPBACK}",
        f"cafile {runtime / 'ca.pem'}",
        f"certfile {runtime / 'server.crt'}",
        f"keyfile {runtime / 'server.key'}",
        "tls_version tlsv1.2",
        "require_certificate true",
    ]
    return "\n".join(lines) + "\n"


class Broker:
    """A mosquitto of this benchmark's own, stopped by `stop()`."""

    def __init__(self, cloud: Cloud, auth_socket: Path | None) -> None:
        self.runtime = RuntimeDirectory()
        server = cloud.ca.issue_server_certificate(["localhost", "127.0.0.1"])
        assert server.private_key_pem is not None
        self.runtime.write("ca.pem", cloud.ca.certificate_pem.encode())
        self.runtime.write("server.crt", server.certificate_pem.encode())
        self.runtime.write("server.key", server.private_key_pem.encode())
        if auth_socket is not None:
            self.runtime.write("buttonrig_auth.so", plugin_library().read_bytes())
        self.port = free_port()
        config = self.runtime.write(
            "mosquitto.conf", _config(self.port, self.runtime.path, auth_socket).encode()
        )
        self.process = subprocess.Popen(
            [find_mosquitto(), "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.endpoint = BrokerEndpoint(LOOPBACK, self.port, cloud.ca.certificate_file)

    def client(self, cert: Path, key: Path, client_id: str) -> DeviceClient:
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                return DeviceClient(self.endpoint, cert, key, client_id).connect(timeout=2)
            except (OSError, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.runtime.remove()


def _echo(client: DeviceClient, topic: str, payload: bytes) -> float:
    started = time.perf_counter()
    client.client.publish(topic, payload, qos=1)
    message = client.messages.get(timeout=WAIT_S)
    assert message.topic == topic
    return (time.perf_counter() - started) * 1000


def cost(workdir: Path, samples: int) -> dict[str, float]:
    home = workdir / "plugin-home"
    home.mkdir(mode=0o700)
    cloud = Cloud(home)
    thing = "bench-plugin"
    topic = f"bench/{thing}/echo"
    provisioned = cloud.provision_button(thing)  # the button policy, plus the echo topic
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "iot:Publish", "Resource": arn.topic_arn(topic)},
            {"Effect": "Allow", "Action": "iot:Receive", "Resource": arn.topic_arn(topic)},
            {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": arn.topicfilter_arn(topic)},
        ],
    }
    cloud.create_policy("bench-plugin-echo", json.dumps(document))
    cloud.attach_policy("bench-plugin-echo", provisioned["certificateArn"])
    cert, key = workdir / "plugin.crt", workdir / "plugin.key"
    cert.write_text(provisioned["certificatePem"])
    key.write_text(provisioned["privateKeyPem"])
    sockets = RuntimeDirectory()
    decider = ConnectionDecider(cloud.registry, cloud.certificates, cloud.policies, set)
    server = PluginServer(sockets.path / "auth.sock", decider.decide, sockets.group)
    server.start()
    brokers = {"plugin": Broker(cloud, server.path), "bare": Broker(cloud, None)}
    medians: dict[str, list[float]] = {name: [] for name in brokers}
    try:
        clients = {name: b.client(cert, key, thing) for name, b in brokers.items()}
        # the plugin is in force there: another client id is refused (CONNACK 5)
        identity = ClientIdentity(cert, key)
        assert mqtt_handshake(brokers["plugin"].endpoint, identity, 5.0, "bench-other") == 5
        assert mqtt_handshake(brokers["bare"].endpoint, identity, 5.0, "bench-other") == 0
        for client in clients.values():
            client.subscribe(topic)
        for _ in range(RUNS):
            times: dict[str, list[float]] = {name: [] for name in brokers}
            for index in range(samples + 5):  # the first few warm up
                for name in ("plugin", "bare") if index % 2 else ("bare", "plugin"):
                    elapsed = _echo(clients[name], topic, b'{"n": %d}' % index)
                    if index >= 5:
                        times[name].append(elapsed)
            for name, values in times.items():
                medians[name].append(statistics.median(values))
        for client in clients.values():
            client.close()
    finally:
        for broker in brokers.values():
            broker.stop()
        server.stop()
        sockets.remove()
        cloud.close()
    results: dict[str, float] = {}
    for name, values in medians.items():
        results[f"mqtt_echo_rtt_ms_{name}"] = round(statistics.median(values), 3)
        results[f"mqtt_echo_rtt_ms_{name}_min"] = round(min(values), 3)
        results[f"mqtt_echo_rtt_ms_{name}_max"] = round(max(values), 3)
    results["broker_plugin_cost_ratio"] = round(
        results["mqtt_echo_rtt_ms_plugin"] / results["mqtt_echo_rtt_ms_bare"], 3
    )
    return results


def run(ctx: Context) -> dict[str, int | float]:
    return dict(cost(ctx.workdir, samples=50 if ctx.quick else 300))
