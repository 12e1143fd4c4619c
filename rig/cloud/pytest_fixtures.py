"""pytest fixtures for the reference cloud (broker, cloud model).

* `cloud_runtime` (module scope): broker + cloud service + API in a temporary home, torn down
  after the module. Tests in one module share it: give every test its own thing names.
* `cloud`: the same runtime, function-scoped alias for tests that only read the fixture.
* `device`: a factory `device(thing_name) -> DeviceClient`, a paho client connected over mTLS with a
  freshly provisioned certificate (thing + certificate + per-thing policy); closed after the test.
"""

from __future__ import annotations

import contextlib
import io
import json
import queue
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from rig.broker import BrokerEndpoint
from rig.cloud.mqttclient import disable_nagle
from rig.cloud.runtime import CloudRuntime, temporary_cloud

WAIT_S = 20.0  # generous: CI machines are slow and loaded


def buttonrig(home: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `buttonrig --home HOME ARGS…` in this process (the CLI code path, minus the
    interpreter start-up); with ok=True it must succeed."""
    from rig.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(["--home", str(home), *args])
        except SystemExit as exc:  # argparse errors
            code = exc.code if isinstance(exc.code, int) else 2
    result = subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())
    if ok:
        assert result.returncode == 0, f"{args} failed ({result.returncode}): {result.stderr}"
    return result


def buttonrig_subprocess(
    home: Path, *args: str, ok: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run `buttonrig --home HOME ARGS…` as a separate process."""
    result = subprocess.run(
        [sys.executable, "-m", "rig.cli", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if ok:
        assert result.returncode == 0, f"{args} failed ({result.returncode}): {result.stderr}"
    return result


def buttonrig_json(home: Path, *args: str) -> Any:
    """`buttonrig` output parsed as JSON (None when it printed nothing)."""
    out = buttonrig(home, *args).stdout
    return json.loads(out) if out.strip() else None


class DeviceClient:
    """A paho MQTT client with a client certificate; received messages go to a queue."""

    def __init__(
        self,
        endpoint: BrokerEndpoint,
        cert_file: Path,
        key_file: Path,
        client_id: str,
        will: tuple[str, bytes] | None = None,
    ) -> None:
        self.client_id = client_id
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.tls_set(str(endpoint.ca_file), str(cert_file), str(key_file))
        if will is not None:
            self.client.will_set(will[0], will[1], qos=1)
        self.client.on_message = lambda _c, _u, message: self.messages.put(message)
        disable_nagle(self.client)
        self._endpoint = endpoint

    def connect(self, timeout: float = WAIT_S) -> DeviceClient:
        self.client.connect(self._endpoint.host, self._endpoint.port, keepalive=30)
        self.client.loop_start()
        deadline = time.monotonic() + timeout
        while not self.client.is_connected():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.client_id} did not connect within {timeout} s")
            time.sleep(0.01)
        return self

    def subscribe(self, topic_filter: str, qos: int = 1, timeout: float = WAIT_S) -> list[int]:
        """Subscribe and wait for the SUBACK; returns the granted codes (128 = refused)."""
        done: queue.Queue[Any] = queue.Queue()
        self.client.on_subscribe = lambda _c, _u, mid, codes, _p: done.put((mid, codes))
        _, mid = self.client.subscribe(topic_filter, qos)
        while True:
            got_mid, codes = done.get(timeout=timeout)
            if got_mid == mid:
                break
        self.client.on_subscribe = None
        return [int(code.value) for code in codes]

    def publish(self, topic: str, payload: bytes | str | dict[str, Any], qos: int = 1) -> None:
        data = json.dumps(payload).encode() if isinstance(payload, dict) else payload
        info = self.client.publish(topic, data, qos=qos)
        if qos:
            info.wait_for_publish(WAIT_S)

    def expect(self, topic: str, timeout: float = WAIT_S) -> dict[str, Any]:
        """The next message on `topic` (JSON-decoded); others seen meanwhile are skipped."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no message on {topic} within {timeout} s; saw {seen}")
            try:
                message = self.messages.get(timeout=remaining)
            except queue.Empty:
                continue
            if message.topic == topic:
                return json.loads(message.payload)
            seen.append(message.topic)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class DeviceFactory:
    """Provisions things on the running cloud and connects them as devices."""

    def __init__(self, runtime: CloudRuntime, directory: Path) -> None:
        self.runtime = runtime
        self.directory = directory
        self.clients: list[DeviceClient] = []

    def credentials(self, thing_name: str) -> tuple[Path, Path]:
        provisioned = self.runtime.cloud.provision_button(thing_name)
        cert = self.directory / f"{thing_name}.crt.pem"
        key = self.directory / f"{thing_name}.key.pem"
        cert.write_text(provisioned["certificatePem"])
        key.write_text(provisioned["privateKeyPem"])
        key.chmod(0o600)
        return cert, key

    def __call__(
        self, thing_name: str, connect: bool = True, will: tuple[str, bytes] | None = None
    ) -> DeviceClient:
        cert, key = self.credentials(thing_name)
        assert self.runtime.endpoint is not None
        client = DeviceClient(self.runtime.endpoint, cert, key, thing_name, will)
        self.clients.append(client)
        return client.connect() if connect else client

    def close(self) -> None:
        for client in self.clients:
            client.close()


@pytest.fixture(scope="module")
def cloud_runtime() -> Iterator[CloudRuntime]:
    with temporary_cloud() as runtime:
        yield runtime


@pytest.fixture
def cloud(cloud_runtime: CloudRuntime) -> CloudRuntime:
    return cloud_runtime


@pytest.fixture
def device(cloud_runtime: CloudRuntime, tmp_path: Path) -> Iterator[Callable[..., DeviceClient]]:
    factory = DeviceFactory(cloud_runtime, tmp_path)
    yield factory
    factory.close()
