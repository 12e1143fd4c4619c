"""firmware/wifi.py on the unix port against the emulated radio (boards/emulated/shims/network.py),
configured from the environment and over the side channel op `radio`."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from host.paths import FIRMWARE_DIR, SHIMS_DIR
from rig.unix_port.binary import default_binary
from rig.unix_port.process import run_mp

WAIT = 30.0
PASSWORD = "wifi-secret-42"
HOME = {"ssid": "home", "password": PASSWORD, "rssi": -48}

CLASSIFY = """
import asyncio, json, fault, wifi
wifi.Station.JOIN_TIMEOUT_MS = 800
async def main():
    for ssid, pw in json.load(open(__import__('sys').argv[1])):
        st = wifi.Station(ssid, pw, lambda p: None)
        try:
            await st.connect()
            print(json.dumps(["up", st.rssi(), st.wlan.ifconfig()[0]]))
        except fault.Fault as e:
            print(json.dumps([e.kind, e.led(), e.detail]))
asyncio.run(main())
"""


def test_each_failure_is_classified_and_mapped_to_its_led_pattern() -> None:
    radio = {
        "aps": [HOME, {"ssid": "cafe", "password": "", "rssi": -70, "dhcp": False}],
        "connect_ms": 50,
    }
    cases = [["home", PASSWORD], ["home", "wrong-password"], ["nowhere", "x" * 8], ["cafe", ""]]
    lines = run_mp(
        CLASSIFY, cases, path=(FIRMWARE_DIR, SHIMS_DIR), env={"BUTTONRIG_RADIO": json.dumps(radio)}
    )
    results = [json.loads(line) for line in lines]
    assert results == [
        ["up", -48, "10.0.0.2"],
        ["wifi", "err_wifi", "wrong password"],
        ["wifi", "err_wifi", "no access point"],
        ["dhcp", "err_dhcp", "no address from DHCP"],
    ]
    assert all(PASSWORD not in line for line in lines)


class SideChannel:
    """The rig's end of the side channel (docs/contracts.md): one board connects, says hello."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.server.getsockname()[1]
        self.conn: socket.socket | None = None
        self.received: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        self.conn = conn
        with contextlib.suppress(OSError):
            for line in conn.makefile("rb"):
                self.received.put(json.loads(line))

    def expect(self, op: str, timeout: float = WAIT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                msg = self.received.get(timeout=0.2)
            except queue.Empty:
                continue
            if msg.get("op") == op:
                return msg
            seen.append(msg)
        raise AssertionError(f"no side-channel op {op!r}; saw {seen}")

    def expect_where(self, op: str, **fields: Any) -> dict[str, Any]:
        """The first message of `op` whose fields have these values (others of `op` are skipped)."""
        deadline = time.monotonic() + WAIT
        while True:
            msg = self.expect(op, max(0.1, deadline - time.monotonic()))
            if all(msg.get(k) == v for k, v in fields.items()):
                return msg

    def drain(self, op: str, seconds: float) -> list[dict[str, Any]]:
        """Every message of `op` that arrives within `seconds`."""
        out = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                msg = self.received.get(timeout=0.1)
            except queue.Empty:
                continue
            if msg.get("op") == op:
                out.append(msg)
        return out

    def send(self, obj: dict[str, Any]) -> None:
        assert self.conn is not None
        self.conn.sendall(json.dumps(obj).encode() + b"\n")

    def close(self) -> None:
        if self.conn:
            self.conn.close()
        self.server.close()


STATION = """
import asyncio, events, wifi
def show(p):
    events.emit("led", pattern=p)
wifi.Station.JOIN_TIMEOUT_MS = 1000
wifi.Station.BACKOFF_BASE_MS = 100
wifi.Station.BACKOFF_MAX_MS = 400
wifi.Station.CHECK_MS = 50
async def main():
    st = wifi.Station("home", %r, show)
    await st.run()
asyncio.run(main())
"""


@pytest.fixture
def channel() -> Iterator[SideChannel]:
    ch = SideChannel()
    yield ch
    ch.close()


def test_station_follows_the_radio_the_rig_sets(channel: SideChannel, tmp_path: Path) -> None:
    env = dict(
        os.environ,
        MICROPYPATH=f":.frozen:{FIRMWARE_DIR}:{SHIMS_DIR}",
        BUTTONRIG_CHANNEL=f"127.0.0.1:{channel.port}",
        BUTTONRIG_RADIO=json.dumps({"aps": [], "connect_ms": 50}),
    )
    proc = subprocess.Popen(
        [default_binary(), "-c", STATION % PASSWORD],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()

    def expect(ev: str, **fields: Any) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            seen.append(line)
            if line.startswith("EVT "):
                obj = json.loads(line[4:])
                if obj["ev"] == ev and all(obj.get(k) == v for k, v in fields.items()):
                    return obj
        raise AssertionError(f"no {ev} {fields}; console: {seen}")

    try:
        channel.expect("hello")
        expect("led", pattern="connecting")  # blinking white while joining
        assert channel.expect("wifi") == {"op": "wifi", "state": "connect", "ssid": "home"}
        expect("wifi", state="down", kind="wifi")
        expect("led", pattern="err_wifi")
        channel.send({"op": "radio", "aps": [HOME]})  # the access point comes into range
        up = expect("wifi", state="up")
        assert up["rssi"] == -48 and up["ip"] == "10.0.0.2"
        channel.send({"op": "radio", "aps": []})  # and goes away again
        expect("wifi", state="lost")
        expect("led", pattern="connecting")
        channel.send({"op": "radio", "aps": [{**HOME, "dhcp": False}]})
        expect("wifi", state="down", kind="dhcp")
        expect("led", pattern="err_dhcp")
    finally:
        proc.kill()
        proc.wait(10)
    console = "\n".join(seen)
    assert PASSWORD not in console
    while not channel.received.empty():  # nor does the shim tell the rig the password
        assert PASSWORD not in json.dumps(channel.received.get())


PORTAL = """
import asyncio, configap, events
async def main():
    await configap.Portal("G030JF055364XVRB", lambda p: None, timeout_s=120).run()
asyncio.run(main())
"""


def test_configuration_ap_takes_the_password_from_the_serial(
    channel: SideChannel, tmp_path: Path
) -> None:
    (tmp_path / "board.py").write_bytes(
        (FIRMWARE_DIR.parent / "boards/emulated/board.py").read_bytes()
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        ap_port = s.getsockname()[1]
    env = dict(
        os.environ,
        MICROPYPATH=f":.frozen:{FIRMWARE_DIR}:{SHIMS_DIR}",
        BUTTONRIG_CHANNEL=f"127.0.0.1:{channel.port}",
        BUTTONRIG_AP_PORT=str(ap_port),
    )
    proc = subprocess.Popen(
        [default_binary(), "-c", PORTAL], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL
    )
    try:
        channel.expect("hello")
        # ESP-IDF takes the AP's settings only while it is on (the shim refuses them before, as
        # the chip does), and the page is at 192.168.0.1 (README), not ESP-IDF's 192.168.4.1
        ap = channel.expect_where("ap", essid="Button ConfigureMe - VRB", ip="192.168.0.1")
        assert ap == {
            "op": "ap",
            "active": True,
            "essid": "Button ConfigureMe - VRB",
            "authmode": 3,
            "ip": "192.168.0.1",
        }
        channel.send({"op": "ap_join", "password": "G030JF05"})  # a wrong guess
        assert channel.expect("ap_join")["ok"] is False
        channel.send({"op": "ap_join", "password": "5364XVRB"})  # the last eight of the DSN
        assert channel.expect("ap_join") == {
            "op": "ap_join",
            "ok": True,
            "essid": "Button ConfigureMe - VRB",
        }
    finally:
        proc.kill()
        proc.wait(10)


CONFIGURED_BOARD = """
import asyncio, app, configmode, events, wifi
wifi.Station.JOIN_TIMEOUT_MS = 1000
wifi.Station.FAIL_SETTLE_MS = 300
wifi.Station.BACKOFF_BASE_MS = 100
wifi.Station.BACKOFF_MAX_MS = 400
class Led:
    def show(self, p):
        events.emit("led", pattern=p)
class Board:  # app.App's service registry and hooks, without its boot
    serial = "G030JF055364XVRB"
    led = Led()
    def __init__(self):
        self.services = []
    def set_busy(self, name, busy=True):
        pass
    tell = app.App.tell
async def main():
    b = Board()
    station = wifi.Station("home", %r, b.led.show)
    config = configmode.ConfigMode(b, True, timeout_s=120)
    b.services += [station, config]
    asyncio.create_task(station.run())
    asyncio.create_task(config.run())
    await asyncio.sleep_ms(1500)  # the station has failed and retried a few times
    config.on_long_hold(6000)  # the customer holds the button: config mode
    await asyncio.sleep(60)
asyncio.run(main())
"""


def _configured_board(
    channel: SideChannel, tmp_path: Path, aps: list[Any]
) -> subprocess.Popen[bytes]:
    (tmp_path / "board.py").write_bytes(
        (FIRMWARE_DIR.parent / "boards/emulated/board.py").read_bytes()
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        ap_port = s.getsockname()[1]
    env = dict(
        os.environ,
        MICROPYPATH=f":.frozen:{FIRMWARE_DIR}:{SHIMS_DIR}",
        BUTTONRIG_CHANNEL=f"127.0.0.1:{channel.port}",
        BUTTONRIG_AP_PORT=str(ap_port),
        BUTTONRIG_RADIO=json.dumps({"aps": aps, "connect_ms": 50}),
    )
    return subprocess.Popen(
        [default_binary(), "-c", CONFIGURED_BOARD % PASSWORD],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def test_a_link_lost_while_config_mode_is_open_is_not_retried(
    channel: SideChannel, tmp_path: Path
) -> None:
    # the port's own auto-reconnect would scan at once when the link drops (network_wlan.c):
    # the station turns it off (config(reconnects=0)) while config mode is open
    proc = _configured_board(channel, tmp_path, [HOME])
    try:
        channel.expect("hello")
        channel.expect_where("ap", essid="Button ConfigureMe - VRB", ip="192.168.0.1")
        channel.send({"op": "radio", "aps": []})  # the home network goes down meanwhile
        assert channel.drain("ap_disturbed", 3.0) == []
    finally:
        proc.kill()
        proc.wait(10)


def test_config_mode_on_a_configured_board_keeps_the_station_quiet(
    channel: SideChannel, tmp_path: Path
) -> None:
    # AP+STA share one radio: each station scan or join takes the AP off its channel and the
    # phone on the setup page drops. While config mode is open the station must not retry.
    proc = _configured_board(channel, tmp_path, [])  # home is out of range
    try:
        channel.expect("hello")
        channel.expect_where("ap", essid="Button ConfigureMe - VRB")
        assert channel.drain("ap_disturbed", 3.0) == []
        channel.send({"op": "ap_join", "password": "5364XVRB"})
        assert channel.expect("ap_join")["ok"] is True
    finally:
        proc.kill()
        proc.wait(10)
