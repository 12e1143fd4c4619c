"""A long-lived emulated button for people and scripts (`buttonrig emulate`).

`python -m rig.strategies.supervisor <statedir> <serial>` runs one `EmulatedBoard` in the
background with its state under `<home>/boards/<serial>/` (flash, console log, `tty` link) and
answers on a loopback control socket: newline-delimited JSON requests `{"cmd": "press", "gesture":
"single"}`, `{"cmd": "status"}`, `{"cmd": "stop"}`, one JSON reply each. `supervisor.json` in the
state directory says where (pid, control port, tty, RFC 2217 URL, what it was provisioned as) while
it runs.

`python -m rig.strategies.supervisor <statedir> <serial> [--home DIR] [--rfc2217 PORT]`: with a
home whose cloud runs (`buttonrig cloud up`, found through `<home>/endpoint.json`), the board is
set up as a customer would (rig.strategies.provisioning.CustomerSetup) before the supervisor
reports it running: the supervisor owns the board, so provisioning runs here. With `--rfc2217` the
running board is also served as an RFC 2217 port (rig.drivers.rfc2217_server.serve_emulated).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import socketserver
import sys
import threading
from pathlib import Path
from typing import Any, cast

from rig import gestures
from rig.backends.local import LocalBackend
from rig.drivers.base import ExpectTimeout
from rig.drivers.emulated import EmulatedBoard
from rig.drivers.rfc2217_server import Rfc2217Server, serve_emulated

STATE_FILE = "supervisor.json"
SERIAL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
GESTURES = {
    "single": lambda: gestures.single(120),
    "double": lambda: gestures.double(100, 150, 100),
    "long": lambda: gestures.long(2000),
}
CLICK_TIMEOUT_S = 20.0
BOOT_TIMEOUT_S = 30.0


def check_serial(serial: str) -> str:
    """A device serial number usable as a directory name; ValueError otherwise."""
    if not SERIAL_RE.match(serial):
        raise ValueError(
            f"invalid serial {serial!r}: use 1-64 letters, digits, '-' or '_' (e.g. G030PT0212345678)"
        )
    return serial


def state_dir(home: Path, serial: str) -> Path:
    return home / "boards" / check_serial(serial)


def read_state(directory: Path) -> dict[str, Any] | None:
    """The running supervisor's address, or None when none runs there (stale files are ignored)."""
    try:
        state = json.loads((directory / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    try:
        pid = int(state["pid"])
    except (KeyError, ValueError):
        return None
    return state if process_alive(pid) else None


def process_alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie nobody reaped yet does not count)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def request(
    state: dict[str, Any], message: dict[str, Any], timeout: float = 60.0
) -> dict[str, Any]:
    """One request to a running supervisor; its reply."""
    with socket.create_connection(("127.0.0.1", int(state["port"])), timeout=timeout) as sock:
        sock.sendall(json.dumps(message).encode() + b"\n")
        line = sock.makefile("rb").readline()
    if not line:
        raise ConnectionError("the emulated board's supervisor closed the connection")
    return json.loads(line)


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        server = cast(_ControlServer, self.server)
        for line in self.rfile:
            try:
                reply = server.supervisor.answer(json.loads(line))
            except Exception as exc:  # a bad request must not end the board
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            self.wfile.write(json.dumps(reply).encode() + b"\n")
            if reply.get("stopping"):
                threading.Thread(target=server.shutdown, daemon=True).start()
                return


class _ControlServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        super().__init__(("127.0.0.1", 0), _Handler)


class Supervisor:
    """Owns the board; one press at a time."""

    def __init__(
        self,
        directory: Path,
        serial: str,
        home: Path | None = None,
        rfc2217_port: int | None = None,
    ) -> None:
        self.directory = directory
        self.serial = check_serial(serial)
        self.home = home
        self.rfc2217_port = rfc2217_port
        self.board = EmulatedBoard(directory, serial)
        self.provisioned: dict[str, str] | None = None
        self.rfc2217: Rfc2217Server | None = None
        self._press_lock = threading.Lock()

    def boot(self) -> None:
        self.board.deploy({"serial": self.serial.encode()})
        if self.home is not None:
            self.provisioned = start_set_up(self.board, self.home)
        else:
            start(self.board)
        if self.rfc2217_port is not None:
            self.rfc2217 = serve_emulated(self.board, port=self.rfc2217_port)

    def state(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "tty": str(self.board.tty),
            "rfc2217": self.rfc2217.url if self.rfc2217 is not None else None,
            "provisioned": self.provisioned,
            # where the board's access-point page is served while it is in config mode (on a
            # chip: 192.168.4.1 on its own Wi-Fi; here a loopback port the rig chose)
            "setup_page": f"http://127.0.0.1:{self.board.ap_port}/index.html",
        }

    def close(self) -> None:
        if self.rfc2217 is not None:
            self.rfc2217.stop()
            self.rfc2217 = None
        self.board.close()

    def answer(self, req: dict[str, Any]) -> dict[str, Any]:
        cmd = req.get("cmd")
        if cmd == "status":
            return {
                "ok": True,
                "serial": self.serial,
                "state": self.board.state,
                "tty": str(self.board.tty),
            }
        if cmd == "stop":
            return {"ok": True, "stopping": True}
        if cmd == "press":
            name = req.get("gesture")
            if name not in GESTURES:
                return {
                    "ok": False,
                    "error": f"unknown gesture {name!r}; use one of {sorted(GESTURES)}",
                }
            return self._press(str(name))
        return {"ok": False, "error": f"unknown command {cmd!r}"}

    def _press(self, name: str) -> dict[str, Any]:
        with self._press_lock:
            self.board.console.skip_to_end()  # the click this gesture makes, not an older one
            self.board.press(GESTURES[name]())
            try:
                click = self.board.expect("click", CLICK_TIMEOUT_S)
            except ExpectTimeout as exc:
                return {"ok": False, "error": str(exc)}
            return {"ok": True, "click": click}

    def serve(self) -> None:
        server = _ControlServer(self)
        state = {**self.state(), "port": server.server_address[1]}
        tmp = self.directory / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.directory / STATE_FILE)
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
        try:
            server.serve_forever()
        finally:
            server.server_close()
            try:
                self.close()
            finally:  # gone from `list` once the board and its RFC 2217 port are closed
                with contextlib.suppress(FileNotFoundError):
                    (self.directory / STATE_FILE).unlink()


def start(board: EmulatedBoard) -> None:
    board.start()
    board.expect("boot", BOOT_TIMEOUT_S)


def start_set_up(board: EmulatedBoard, home: Path) -> dict[str, str] | None:
    """Start the board set up for the cloud running for `home`: as it is when what it keeps on
    flash still works there, else set up through its access point as a new button (after the
    firmware's factory reset, so no hold and no click; rig/strategies/provisioning.py). What it
    is (thing, certificate, policy, endpoint — no secrets), or None when no cloud runs."""
    from rig.cloud.api import Cloud
    from rig.cloud.core import endpoint
    from rig.mqtt.endpoint import BrokerEndpoint
    from rig.strategies.provisioning import CustomerSetup, factory_reset, set_radio, stored_setup

    running = endpoint.running_cloud(home)
    if running is None:
        print(f"no cloud runs for {home}: the button stays unprovisioned", flush=True)
        start(board)
        return None
    broker = BrokerEndpoint(
        str(running["host"]),
        int(running["port"]),
        Path(str(running["ca_file"])),
        str(running.get("server_hostname", "localhost")),
    )
    cloud = Cloud(home)
    try:
        setup = CustomerSetup(LocalBackend(cloud, broker))
        kept = setup.still_set_up(board)
        if kept is not None:
            set_radio(board, [setup.network.ap()])  # the home network is there from the start
            start(board)
            done = setup.resume(board, kept)
            print(f"still set up as thing {done.serial} for {done.endpoint}", flush=True)
        else:
            replaced = stored_setup(board)
            factory_reset(board)  # also what a half-configured board keeps
            start(board)
            done = setup.provision(
                board, replaces=replaced.certificate_id if replaced is not None else None
            )
            print(f"provisioned as thing {done.serial} against {done.endpoint}", flush=True)
    finally:
        cloud.close()
    return {
        "thingName": done.serial,
        "certificateId": done.certificate_id,
        "policyName": done.policy_name,
        "endpoint": done.endpoint,
        "ssid": done.network.ssid,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m rig.strategies.supervisor")
    parser.add_argument("directory", type=Path)
    parser.add_argument("serial")
    parser.add_argument("--home", type=Path, help="rig home: provision against its running cloud")
    parser.add_argument("--rfc2217", type=int, metavar="PORT", help="serve it over RFC 2217")
    args = parser.parse_args(argv)
    args.directory.mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor(args.directory, args.serial, args.home, args.rfc2217)
    try:
        supervisor.boot()
        print(f"emulated button {args.serial} running, console {supervisor.board.tty}", flush=True)
        supervisor.serve()
    finally:
        supervisor.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
