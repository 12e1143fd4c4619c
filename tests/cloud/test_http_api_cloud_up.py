"""`buttonrig cloud up` serves the AWS HTTP API on a port kept across restarts of one home and
names it `api_url` in endpoint.json (issue #16)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3.session
import pytest
from aws_http import NO_RETRIES, dummy_env
from botocore.exceptions import EndpointConnectionError


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    dummy_env(monkeypatch)


def _cloud_up(home: Path) -> tuple[subprocess.Popen[bytes], dict]:
    process = subprocess.Popen(
        [sys.executable, "-m", "rig.cli", "--home", str(home), "cloud", "up"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, f"cloud up exited {process.returncode}"
        path = home / "endpoint.json"
        if path.exists():
            data = json.loads(path.read_text())
            if data.get("pid") == process.pid:
                return process, data
        time.sleep(0.05)
    process.kill()
    raise AssertionError("no endpoint.json within 60 s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()


def _iot(url: str):
    return boto3.session.Session().client(
        "iot", endpoint_url=url, region_name="us-east-1", config=NO_RETRIES
    )


def test_api_url_is_kept_across_restarts(tmp_path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    process, first = _cloud_up(home)
    try:
        url = first["api_url"]
        assert url.startswith("http://127.0.0.1:")
        _iot(url).create_thing(thingName="http-restart")
    finally:
        _stop(process)
    assert not (home / "endpoint.json").exists()
    process, second = _cloud_up(home)
    try:
        assert second["api_url"] == url
        assert _iot(url).describe_thing(thingName="http-restart")["thingName"] == "http-restart"
    finally:
        _stop(process)


def test_a_kept_alive_connection_ends_with_the_cloud(tmp_path) -> None:
    from rig.cloud.runtime import CloudRuntime

    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    runtime = CloudRuntime(home)
    runtime.start()
    try:
        assert runtime.api_server is not None
        iot = _iot(runtime.api_server.url)
        iot.create_thing(thingName="http-kept-alive")  # opens the pooled connection
    finally:
        runtime.stop()
        runtime.cloud.close()
    with pytest.raises(EndpointConnectionError):
        iot.describe_thing(thingName="http-kept-alive")
