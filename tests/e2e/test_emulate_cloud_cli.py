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

from host.console_events import parse_event_line
from rig.strategies.supervisor import process_alive

pytestmark = [pytest.mark.e2e, pytest.mark.needs("local-cloud")]  # `buttonrig cloud up` itself

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


class CloudUp:
    """`buttonrig cloud up` for a home, in its own process; `stop()` ends it with SIGTERM (as a
    Ctrl-C would) and `start()` runs it again."""

    def __init__(self, home: Path, log_path: Path) -> None:
        self.home = home
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = cloud = subprocess.Popen(
                [sys.executable, "-m", "rig.cli", "--home", str(self.home), "cloud", "up"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + WAIT_S
        while not self._endpoint_written_by(cloud.pid):
            assert cloud.poll() is None, self.log_path.read_text()
            assert time.monotonic() < deadline, "no endpoint.json from cloud up"
            time.sleep(0.05)  # polling for the file cloud up writes once clients can connect

    def _endpoint_written_by(self, pid: int) -> bool:
        try:
            return json.loads((self.home / "endpoint.json").read_text()).get("pid") == pid
        except (OSError, ValueError):
            return False

    def stop(self) -> None:
        cloud, self.process = self.process, None
        if cloud is None:
            return
        cloud.send_signal(signal.SIGTERM)
        try:
            cloud.wait(30)
        finally:
            if cloud.poll() is None:
                cloud.kill()
                cloud.wait()


@pytest.fixture
def cloud_up(tmp_path: Path) -> Iterator[CloudUp]:
    """`buttonrig cloud up` running for a fresh home (stopped by SIGTERM afterwards)."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    cloud = CloudUp(home, tmp_path / "cloud-up.log")
    cloud.start()
    try:
        yield cloud
    finally:
        cloud.stop()


@pytest.fixture
def cloud_home(cloud_up: CloudUp) -> Path:
    """A home with `buttonrig cloud up` running in it."""
    return cloud_up.home


def wait_for_clicks(home: Path, count: int, timeout: float = WAIT_S) -> list[dict]:
    """The cloud's click log (`buttonrig clicks`) once it holds `count` clicks."""
    deadline = time.monotonic() + timeout
    while len(at_cloud := json.loads(buttonrig(home, "clicks").stdout)) < count:
        assert time.monotonic() < deadline, f"{len(at_cloud)} of {count} clicks at the cloud"
        time.sleep(0.2)  # polling the cloud's click log through the CLI
    return at_cloud


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


def test_a_running_button_reconnects_by_itself_when_the_cloud_comes_back(
    cloud_up: CloudUp,
) -> None:
    """`cloud up` stopped and started again: the button keeps its endpoint and finds the cloud
    there again; a press after the restart reaches the click log without touching the button."""
    home = cloud_up.home
    serial = "G030CLI0000003"
    started = buttonrig(home, "emulate", "start", "--serial", serial)
    assert started.returncode == 0, started.stderr
    try:
        before = json.loads(
            buttonrig(home, "emulate", "press", "--serial", serial, "single").stdout
        )
        wait_for_clicks(home, 1)
        cloud_up.stop()
        cloud_up.start()
        after = json.loads(
            buttonrig(home, "emulate", "press", "--serial", serial, "double").stdout
        )
        # the board backs off up to a minute between attempts (connection.Connection)
        at_cloud = wait_for_clicks(home, 2, timeout=3 * WAIT_S)
        ids = [c["message"]["eventId"] for c in at_cloud]
        console = (home / "boards" / serial / "console.log").read_text(errors="replace")
        events = [parse_event_line(line) for line in console.splitlines()]
        seen = [(c["message"]["clickType"], c["message"]["eventId"]) for c in at_cloud]
        assert ids == [before["id"], after["id"]], (seen, before, after, console[-4000:])
        ups = [e for e in events if e and e["ev"] == "mqtt" and e.get("state") == "up"]
        assert len(ups) >= 2, "the button did not report a second connection"
    finally:
        stopped = buttonrig(home, "emulate", "stop", "--serial", serial)
    assert stopped.returncode == 0, stopped.stderr


def _certificates_of(home: Path, thing: str) -> dict[str, str]:
    """certificateId -> status of every certificate attached to `thing` (through the CLI)."""
    listed = buttonrig(home, "iot", "list-thing-principals", "--thing-name", thing)
    assert listed.returncode == 0, listed.stderr
    statuses = {}
    for principal in json.loads(listed.stdout)["principals"]:
        certificate_id = principal.rsplit("/", 1)[-1]
        described = buttonrig(
            home, "iot", "describe-certificate", "--certificate-id", certificate_id
        )
        statuses[certificate_id] = json.loads(described.stdout)["certificateDescription"]["status"]
    return statuses


def _start(home: Path, serial: str) -> dict:
    started = buttonrig(home, "emulate", "start", "--serial", serial)
    assert started.returncode == 0, started.stderr
    return json.loads(started.stdout)["provisioned"]


def _stop(home: Path, serial: str) -> None:
    stopped = buttonrig(home, "emulate", "stop", "--serial", serial)
    assert stopped.returncode == 0, stopped.stderr


def test_starting_a_button_again_records_no_click_and_leaves_one_active_certificate(
    cloud_up: CloudUp,
) -> None:
    """`emulate stop` + `start` of one serial: a button whose configuration still works is not
    set up again; one that must be (its endpoint moved) is set up with no press recorded, and
    the certificate it replaced is made INACTIVE."""
    home = cloud_up.home
    serial = "G030CLI0000004"
    first = _start(home, serial)
    try:
        _stop(home, serial)
        again = _start(home, serial)
        assert again["certificateId"] == first["certificateId"], "set up again for nothing"
        assert _certificates_of(home, serial) == {first["certificateId"]: "ACTIVE"}

        # the endpoint moves: a new port for this home (the remembered one given up)
        _stop(home, serial)
        cloud_up.stop()
        (home / "cloud" / "broker-port").unlink()
        cloud_up.start()
        moved = _start(home, serial)
        assert moved["endpoint"] != first["endpoint"], (moved, first)
        assert _certificates_of(home, serial) == {
            first["certificateId"]: "INACTIVE",
            moved["certificateId"]: "ACTIVE",
        }
        assert json.loads(buttonrig(home, "clicks").stdout) == [], "a press nobody made"

        pressed = json.loads(
            buttonrig(home, "emulate", "press", "--serial", serial, "single").stdout
        )
        at_cloud = wait_for_clicks(home, 1)
        assert [c["message"]["eventId"] for c in at_cloud] == [pressed["id"]]
    finally:
        buttonrig(home, "emulate", "stop", "--serial", serial)  # may be stopped already


def test_a_button_started_with_the_aws_backend_is_set_up_through_the_aws_api(
    cloud_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`emulate start --backend aws` sets the button up with boto3 (rig/backends/aws.py); here
    against `cloud up`'s AWS HTTP interface, as a user points it at another implementation."""
    running = json.loads((cloud_home / "endpoint.json").read_text())
    for name, value in (("AWS_ACCESS_KEY_ID", "rig"), ("AWS_SECRET_ACCESS_KEY", "rig")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    serial = "G030CLIAWS00001"
    started = buttonrig(
        cloud_home,
        *("emulate", "start", "--serial", serial, "--backend", "aws"),
        *("--endpoint-url", running["api_url"]),
        *("--device-endpoint", f"{running['server_hostname']}:{running['port']}"),
        *("--device-ca", running["ca_file"]),
    )
    assert started.returncode == 0, started.stderr
    try:
        info = json.loads(started.stdout)
        assert info["provisioned"]["backend"] == "aws", info
        thing = json.loads(
            buttonrig(cloud_home, "iot", "describe-thing", "--thing-name", serial).stdout
        )
        run = thing["attributes"]["buttonrig_run"]  # what marks the AWS backend's things
        assert info["provisioned"]["policyName"].startswith(run), (run, info)
        pressed = buttonrig(cloud_home, "emulate", "press", "--serial", serial, "single")
        assert pressed.returncode == 0, pressed.stderr
        click = json.loads(pressed.stdout)
        at_cloud = wait_for_clicks(cloud_home, 1)
        assert [c["message"]["eventId"] for c in at_cloud] == [click["id"]], at_cloud
    finally:
        stopped = buttonrig(cloud_home, "emulate", "stop", "--serial", serial)
    assert stopped.returncode == 0, stopped.stderr
