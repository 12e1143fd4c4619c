"""`buttonrig cloud up` in its own process: endpoint.json, immediate CLI effects, clean stop,
state kept across a restart."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rig.commands.cloud import LOCK_FILE
from rig.mqtt.device_client import DeviceClient
from rig.mqtt.endpoint import BrokerEndpoint, ClientIdentity
from rig.mqtt.handshake import can_connect
from rig.pytest_plugin.cli_runner import buttonrig as run
from rig.pytest_plugin.cli_runner import buttonrig_json as run_json


class CloudProcess:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rig.cli", "--home", str(home), "cloud", "up"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.endpoint = self._wait_for_endpoint()

    def _wait_for_endpoint(self, timeout: float = 60.0) -> dict:
        path = self.home / "endpoint.json"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.process.stdout.read() if self.process.stdout else ""
                raise AssertionError(f"cloud up exited {self.process.returncode}: {output}")
            if path.exists():
                data = json.loads(path.read_text())
                if data.get("pid") == self.process.pid:
                    return data
            time.sleep(0.05)
        raise AssertionError(f"no {path} after {timeout} s")

    @property
    def broker(self) -> BrokerEndpoint:
        return BrokerEndpoint(
            self.endpoint["host"], self.endpoint["port"], Path(self.endpoint["ca_file"])
        )

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(30)
        finally:
            if self.process.poll() is None:
                self.process.kill()


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "home"
    path.mkdir(mode=0o700)
    yield path


def _pid_gone(pid: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_cloud_up_cli_changes_apply_at_once_and_state_survives_restart(home, tmp_path) -> None:
    cloud = CloudProcess(home)
    try:
        assert cloud.endpoint["host"] == "127.0.0.1"
        assert Path(cloud.endpoint["ca_file"]).read_text().startswith("-----BEGIN CERTIFICATE")
        assert Path(cloud.endpoint["ca_der_file"]).read_bytes()[:1] == b"\x30"
        cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
        created = run_json(
            home,
            "iot",
            "create-keys-and-certificate",
            "--set-as-active",
            "--common-name",
            "up-thing",
            "--certificate-pem-outfile",
            str(cert),
            "--private-key-outfile",
            str(key),
        )
        identity = ClientIdentity(cert, key)
        assert not can_connect(cloud.broker, identity), "a certificate without policy connected"
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"},
                {
                    "Effect": "Allow",
                    "Action": ["iot:Publish", "iot:Subscribe", "iot:Receive"],
                    "Resource": "*",
                },
            ],
        }
        run(
            home,
            "iot",
            "create-policy",
            "--policy-name",
            "UpAll",
            "--policy-document",
            json.dumps(policy),
        )
        run(
            home,
            "iot",
            "attach-policy",
            "--policy-name",
            "UpAll",
            "--target",
            created["certificateArn"],
        )
        assert can_connect(cloud.broker, identity), "attach-policy did not take effect at once"

        device = DeviceClient(cloud.broker, cert, key, "up-thing").connect()
        base = "$aws/things/up-thing/shadow"
        device.subscribe(f"{base}/update/accepted")
        device.publish(f"{base}/update", {"state": {"reported": {"kept": 42}}})
        assert device.expect(f"{base}/update/accepted")["version"] == 1
        device.close()

        run(
            home,
            "iot",
            "update-certificate",
            "--certificate-id",
            created["certificateId"],
            "--new-status",
            "INACTIVE",
        )
        assert not can_connect(cloud.broker, identity), "update-certificate did not apply at once"
        status = run_json(home, "cloud", "status")
        assert status["port"] == cloud.endpoint["port"]
        assert status["auth"]["decided_by"] == "broker plugin"
        broker_pid = cloud.endpoint["broker_pid"]
    finally:
        code = cloud.stop()
    assert code == 0
    assert not (home / "endpoint.json").exists()
    assert _pid_gone(broker_pid), "the broker outlived cloud up"

    again = CloudProcess(home)
    try:
        out = tmp_path / "shadow.json"
        run(home, "iot-data", "get-thing-shadow", "--thing-name", "up-thing", str(out))
        assert json.loads(out.read_text())["state"]["reported"] == {"kept": 42}
        assert not can_connect(again.broker, identity), "INACTIVE certificate after restart"
        second = run(home, "cloud", "up", ok=False)
        assert second.returncode != 0 and "already runs" in second.stderr
    finally:
        assert again.stop() == 0


def test_a_second_cloud_up_is_refused_while_the_first_holds_the_lock(home) -> None:
    cloud = CloudProcess(home)
    try:
        (home / "endpoint.json").unlink()  # as in the race: the first has not written it yet
        second = subprocess.run(
            [sys.executable, "-m", "rig.cli", "--home", str(home), "cloud", "up"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 255, second.stderr
        assert f"already runs for {home} (cloud up, pid {cloud.process.pid})" in second.stderr
        assert cloud.process.poll() is None, "the refused second cloud up stopped the first"
    finally:
        assert cloud.stop() == 0
    again = CloudProcess(home)  # the lock went with the first process
    assert again.stop() == 0


def test_cloud_up_is_refused_before_starting_anything_when_the_lock_is_held(home) -> None:
    with open(home / LOCK_FILE, "w") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        holder.write("4242\n")
        holder.flush()
        refused = run(home, "cloud", "up", ok=False)
    assert refused.returncode == 255 and "(cloud up, pid 4242)" in refused.stderr
    assert not (home / "endpoint.json").exists() and not (home / "cloud").exists()


def test_cloud_up_stops_with_an_error_when_its_broker_dies(home) -> None:
    cloud = CloudProcess(home)
    try:
        os.kill(cloud.endpoint["broker_pid"], signal.SIGKILL)
        code = cloud.process.wait(30)
        output = cloud.process.stdout.read() if cloud.process.stdout else ""
    finally:
        cloud.stop()
    assert code != 0, output
    assert "broker died" in output
    assert not (home / "endpoint.json").exists()


def test_no_acknowledged_shadow_update_is_lost_when_the_cloud_is_killed(tmp_path) -> None:
    from rig.benchmarks.shadow import restart_lost

    result = restart_lost(tmp_path, before_kill=20)
    assert result["cloud_restart_acknowledged"] >= 20
    assert result["cloud_restart_lost"] == 0, result


def test_cloud_up_again_comes_back_on_the_same_endpoint(home) -> None:
    """Boards keep the endpoint they were given (host, port, CA): a cloud stopped and started
    again for the same home must be where they look for it."""
    first = CloudProcess(home)
    before = first.endpoint
    ca_before = Path(before["ca_file"]).read_bytes()
    assert first.stop() == 0
    again = CloudProcess(home)
    try:
        after = again.endpoint
        assert (after["host"], after["port"]) == (before["host"], before["port"])
        assert after["ca_file"] == before["ca_file"]
        assert Path(after["ca_file"]).read_bytes() == ca_before
        assert after["server_hostname"] == before["server_hostname"]
    finally:
        assert again.stop() == 0


def test_cloud_up_names_its_port_when_another_program_holds_it(home) -> None:
    first = CloudProcess(home)
    port = first.endpoint["port"]
    assert first.stop() == 0
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        try:  # a subprocess: today's cloud up would start on another port and run on
            refused = subprocess.run(
                [sys.executable, "-m", "rig.cli", "--home", str(home), "cloud", "up"],
                capture_output=True,
                text=True,
                timeout=60,
            )
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"cloud up ran on instead of naming port {port}") from exc
    assert refused.returncode == 255, refused.stderr
    assert f"port {port}" in refused.stderr and "in use" in refused.stderr, refused.stderr
    assert not (home / "endpoint.json").exists()


def test_cloud_up_names_the_file_servers_port_when_another_program_holds_it(home) -> None:
    first = CloudProcess(home)
    port = int((home / "cloud" / "files-port").read_text())
    assert first.endpoint["files_url"] == f"https://localhost:{port}/"
    assert first.stop() == 0
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        refused = subprocess.run(
            [sys.executable, "-m", "rig.cli", "--home", str(home), "cloud", "up"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert refused.returncode == 255, refused.stderr
    assert f"port {port}" in refused.stderr and "file-server port" in refused.stderr
    assert not (home / "endpoint.json").exists()
