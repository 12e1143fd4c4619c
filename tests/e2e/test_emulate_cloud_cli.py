"""The command line's emulated button against the command line's cloud: `buttonrig cloud up` in
one process, `buttonrig emulate start` provisioning the button through its access point, `press`
delivering a click the cloud records once (`buttonrig clicks`), `stop` leaving no process.

Real firmware on the unix port, real mosquitto, real cloud model; every step is a subprocess on
a tmp --home, as a person would type it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from process_kit import processes_using

from rig.strategies.supervisor import process_alive

pytestmark = pytest.mark.e2e

SERIAL = "G030CLI0000001"
WAIT_S = 60.0


def buttonrig(home: Path, *args: str, timeout: float = 200) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rig.cli", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def poll_page(url: str) -> str:
    """The page at `url`, once the board's config mode serves it (it opens after boot)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            with urllib.request.urlopen(url, timeout=WAIT_S) as reply:
                return reply.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)  # config mode not open yet


@pytest.fixture
def cloud_home(tmp_path: Path) -> Iterator[Path]:
    """A home with `buttonrig cloud up` running in it (stopped by SIGTERM afterwards)."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    log = (tmp_path / "cloud-up.log").open("wb")
    cloud = subprocess.Popen(
        [sys.executable, "-m", "rig.cli", "--home", str(home), "cloud", "up"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + WAIT_S
        while not (home / "endpoint.json").exists():
            assert cloud.poll() is None, (tmp_path / "cloud-up.log").read_text()
            assert time.monotonic() < deadline, "no endpoint.json from cloud up"
            time.sleep(0.05)  # polling for the file cloud up writes once clients can connect
        yield home
    finally:
        cloud.send_signal(signal.SIGTERM)
        try:
            cloud.wait(30)
        finally:
            if cloud.poll() is None:
                cloud.kill()
            log.close()


def test_started_button_is_provisioned_and_its_press_reaches_the_cloud_once(
    cloud_home: Path,
) -> None:
    started = buttonrig(cloud_home, "emulate", "start", "--serial", SERIAL, "--rfc2217")
    assert started.returncode == 0, started.stderr
    try:
        info = json.loads(started.stdout)
        assert info["provisioned"]["thingName"] == SERIAL, info
        assert "unprovisioned" not in started.stderr, started.stderr
        thing = json.loads(
            buttonrig(cloud_home, "iot", "describe-thing", "--thing-name", SERIAL).stdout
        )
        assert thing["thingName"] == SERIAL
        listed = json.loads(buttonrig(cloud_home, "emulate", "list").stdout)
        assert [b["serial"] for b in listed] == [SERIAL]
        assert listed[0]["rfc2217"].startswith("rfc2217://127.0.0.1:"), listed

        pressed = buttonrig(cloud_home, "emulate", "press", "--serial", SERIAL, "single")
        assert pressed.returncode == 0, pressed.stderr
        click = json.loads(pressed.stdout)
        assert click["type"] == "SINGLE", click

        deadline = time.monotonic() + WAIT_S
        while not (at_cloud := json.loads(buttonrig(cloud_home, "clicks").stdout)):
            assert time.monotonic() < deadline, f"click {click} not at the cloud"
            time.sleep(0.2)  # polling the cloud's click log through the CLI
        assert len(at_cloud) == 1, at_cloud
        assert at_cloud[0]["message"]["eventId"] == click["id"], (at_cloud, click)
        assert at_cloud[0]["message"]["clickType"] == "SINGLE"
        assert at_cloud[0]["topic"] == f"iotbutton/{SERIAL}"
        assert at_cloud[0]["copies"] == 1, at_cloud
        assert json.loads(buttonrig(cloud_home, "clicks", "--serial", "G030OTHER").stdout) == []
    finally:
        stopped = buttonrig(cloud_home, "emulate", "stop", "--serial", SERIAL)
    assert stopped.returncode == 0, stopped.stderr
    assert not process_alive(info["pid"])
    leftovers = [p for p in processes_using(cloud_home / "boards") if "cloud up" not in p]
    assert leftovers == [], leftovers


def test_start_without_a_cloud_runs_the_button_unprovisioned(tmp_path: Path) -> None:
    started = buttonrig(tmp_path, "emulate", "start", "--serial", "G030CLI0000002")
    try:
        assert started.returncode == 0, started.stderr
        assert "no cloud runs" in started.stderr and "unprovisioned" in started.stderr
        info = json.loads(started.stdout)
        assert info["provisioned"] is None
        # unprovisioned, it is in config mode: the page is where start (and list) say
        listed = json.loads(buttonrig(tmp_path, "emulate", "list").stdout)
        assert [row["setup_page"] for row in listed] == [info["setup_page"]]
        page = poll_page(info["setup_page"])
        assert "Button ConfigureMe" in page and "G030CLI0000002" in page
    finally:
        buttonrig(tmp_path, "emulate", "stop", "--serial", "G030CLI0000002")
    assert processes_using(tmp_path / "boards") == []
