"""`buttonrig emulate start|press|stop|list`: emulated buttons running in the background.

Each runs under a detached supervisor (rig/strategies/supervisor.py) with its state in
`<home>/boards/<serial>/`: flash (it persists: settings, the `serial` label), console.log, and
`tty`, the USB-serial port mpremote can open.

When a cloud runs for the home (`buttonrig cloud up`, `<home>/endpoint.json`), `start` provisions
the board against it as a customer would (its thing, certificate and policy are created, and the
board is configured through its access point) before it reports the board running; without one,
the board runs unprovisioned (solid orange, config mode) and `start` says so.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from host.paths import REPO_ROOT
from rig.cloud.certificates.store import RESERVED_COMMON_NAMES
from rig.cloud.core import endpoint
from rig.commands.errors import CommandError
from rig.strategies import supervisor

START_TIMEOUT_S = 150.0  # boot, then customer set-up (boots, Wi-Fi, TLS) on a loaded machine
STOP_TIMEOUT_S = 20.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("emulate", help="emulated buttons: start, press, stop, list")
    actions = parser.add_subparsers(dest="emulate_command", metavar="ACTION", required=True)

    start = actions.add_parser("start", help="run an emulated button in the background")
    start.add_argument("--serial", required=True, help="device serial number (DSN)")
    start.add_argument(
        "--rfc2217",
        nargs="?",
        type=int,
        const=0,
        metavar="PORT",
        help="also serve the board as rfc2217://127.0.0.1:PORT (a free port when omitted)",
    )
    supervisor.add_backend_options(start)
    start.set_defaults(handler=start_board)

    press = actions.add_parser("press", help="press a running emulated button")
    press.add_argument("--serial", required=True)
    press.add_argument("gesture", choices=sorted(supervisor.GESTURES))
    press.set_defaults(handler=press_board)

    stop = actions.add_parser("stop", help="stop a running emulated button")
    stop.add_argument("--serial", required=True)
    stop.set_defaults(handler=stop_board)

    listing = actions.add_parser("list", help="running emulated buttons")
    listing.set_defaults(handler=list_boards)


def _dir(args: argparse.Namespace) -> Path:
    try:
        return supervisor.state_dir(Path(args.home), args.serial)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc


def _running(args: argparse.Namespace) -> dict[str, object]:
    state = supervisor.read_state(_dir(args))
    if state is None:
        raise CommandError(
            f"no emulated button {args.serial} is running (buttonrig emulate start)"
        )
    return state


def start_board(args: argparse.Namespace) -> int:
    if args.serial in RESERVED_COMMON_NAMES:  # its certificate's CN would be the cloud's client id
        raise CommandError(
            f"serial {args.serial!r} is reserved: it is the client id of the cloud's own broker"
            " clients"
        )
    directory = _dir(args)
    if supervisor.read_state(directory) is not None:
        raise CommandError(f"emulated button {args.serial} is already running")
    directory.mkdir(parents=True, exist_ok=True)
    home = Path(args.home)
    if args.backend == "local" and endpoint.running_cloud(home) is None:
        print(
            f"buttonrig: no cloud runs for {home} (start one: buttonrig cloud up);"
            f" {args.serial} runs unprovisioned",
            file=sys.stderr,
        )
    command = [sys.executable, "-m", "rig.strategies.supervisor", str(directory), args.serial]
    command += ["--home", str(home)]
    if args.rfc2217 is not None:
        command += ["--rfc2217", str(args.rfc2217)]
    command += ["--backend", args.backend]
    for option in ("endpoint_url", "device_endpoint", "device_ca"):
        if getattr(args, option):
            command += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
    log = directory / "supervisor.log"
    offset = log.stat().st_size if log.exists() else 0
    with log.open("ab") as out:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            cwd=REPO_ROOT,
            start_new_session=True,  # detached: outlives this command, not its terminal's Ctrl-C
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while (state := supervisor.read_state(directory)) is None:
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                proc.kill()
            tail = log.read_bytes()[offset:].decode(errors="replace")[-2000:]
            raise CommandError(f"emulated button {args.serial} did not start:\n{tail}")
        time.sleep(0.05)  # polling the supervisor's state file; it appears once it serves
    print(json.dumps({"serial": args.serial, **state, "dir": str(directory)}))
    return 0


def press_board(args: argparse.Namespace) -> int:
    state = _running(args)
    try:
        reply = supervisor.request(state, {"cmd": "press", "gesture": args.gesture})
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot reach emulated button {args.serial}: {exc}") from exc
    if not reply.get("ok"):
        raise CommandError(str(reply.get("error")))
    print(json.dumps(reply["click"]))
    return 0


def stop_board(args: argparse.Namespace) -> int:
    state = _running(args)
    pid = int(str(state["pid"]))
    try:
        supervisor.request(state, {"cmd": "stop"}, timeout=STOP_TIMEOUT_S)
    except (OSError, ValueError):
        os.kill(pid, signal.SIGTERM)  # the control socket is gone: ask the process
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while supervisor.read_state(_dir(args)) is not None or supervisor.process_alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.05)  # waiting for the supervisor to close the board and end
    print(json.dumps({"serial": args.serial, "stopped": True}))
    return 0


def list_boards(args: argparse.Namespace) -> int:
    rows = []
    for directory in sorted((Path(args.home) / "boards").glob("*")):
        state = supervisor.read_state(directory)
        if state is not None:
            rows.append({"serial": directory.name, **state})
    print(json.dumps(rows, indent=2))
    return 0
