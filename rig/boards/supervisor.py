"""A long-lived emulated button for people and scripts (`buttonrig emulate`).

`python -m rig.boards.supervisor <statedir> <serial>` runs one `EmulatedBoard` in the background
with its state under `<home>/boards/<serial>/` (flash, console log, `tty` link) and answers on a
loopback control socket: newline-delimited JSON requests `{"cmd": "press", "gesture": "single"}`,
`{"cmd": "status"}`, `{"cmd": "stop"}`, one JSON reply each. `supervisor.json` in the state
directory says where (pid, control port, tty) while it runs.
"""

from __future__ import annotations

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
from rig.boards.base import ExpectTimeout
from rig.boards.emulated import EmulatedBoard

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

    def __init__(self, directory: Path, serial: str) -> None:
        self.directory = directory
        self.serial = check_serial(serial)
        self.board = EmulatedBoard(directory, serial)
        self._press_lock = threading.Lock()

    def boot(self) -> None:
        self.board.deploy({"serial": self.serial.encode()})
        self.board.start()
        self.board.expect("boot", BOOT_TIMEOUT_S)

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
        state = {"pid": os.getpid(), "port": server.server_address[1], "tty": str(self.board.tty)}
        tmp = self.directory / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.directory / STATE_FILE)
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
        try:
            server.serve_forever()
        finally:
            server.server_close()
            with contextlib.suppress(FileNotFoundError):
                (self.directory / STATE_FILE).unlink()
            self.board.close()


def main(argv: list[str]) -> int:
    directory, serial = Path(argv[0]), argv[1]
    directory.mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor(directory, serial)
    try:
        supervisor.boot()
        print(f"emulated button {serial} running, console {supervisor.board.tty}", flush=True)
        supervisor.serve()
    finally:
        supervisor.board.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
