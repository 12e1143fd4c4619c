"""mpremote drives a board's USB-serial port as on a real ESP32: exec, fs, soft-reset, Ctrl-C."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rig.drivers.base import Board
from rig.drivers.emulated import EmulatedBoard

pytestmark = pytest.mark.e2e

MPREMOTE = [sys.executable, "-m", "mpremote"]
TIMEOUT_S = 60


def port_of(board: Board) -> str:
    if isinstance(board, EmulatedBoard):
        return str(board.tty)
    port = getattr(board, "port", None)
    if not isinstance(port, str):
        pytest.skip(f"{type(board).__name__} does not expose its serial port to mpremote")
    return port


def mpremote(board: Board, *args: str) -> str:
    done = subprocess.run(
        [*MPREMOTE, "connect", port_of(board), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert done.returncode == 0, (
        f"mpremote {' '.join(args)} exited {done.returncode}\n"
        f"stdout: {done.stdout}\nstderr: {done.stderr}\nconsole: {board.console_text()[-1500:]}"
    )
    return done.stdout


def test_exec_interrupts_the_firmware_and_runs_code(board: Board) -> None:
    assert mpremote(board, "exec", "print(6 * 7)").strip() == "42"


def test_fs_ls_cp_cat(board: Board, tmp_path: Path) -> None:
    local = tmp_path / "hello.txt"
    local.write_bytes(b"hello from the rig\n")
    listing = mpremote(board, "fs", "ls")
    assert "main.py" in listing and "board.py" in listing, listing
    mpremote(board, "fs", "cp", str(local), ":hello.txt")
    assert board.read_file("hello.txt") == local.read_bytes()
    assert mpremote(board, "fs", "cat", ":hello.txt") == "hello from the rig\n"
    back = tmp_path / "back.txt"
    mpremote(board, "fs", "cp", ":hello.txt", str(back))
    assert back.read_bytes() == local.read_bytes()


def test_soft_reset_gives_a_fresh_interpreter(board: Board) -> None:
    probe = "print('marker' in globals())"
    mpremote(board, "exec", "marker = 1")
    # `resume` skips mpremote's own soft reset: the interpreter state is still there...
    assert mpremote(board, "resume", "exec", probe).strip() == "True"
    mpremote(board, "soft-reset")
    # ...until `soft-reset`, which the board reports as the reset cause.
    out = mpremote(
        board, "resume", "exec", probe + "; import machine; print(machine.reset_cause())"
    )
    assert out.split() == ["False", "5"], out  # machine.SOFT_RESET


def test_ctrl_c_stops_a_running_loop(board: Board) -> None:
    loop = 'import time\nwhile True:\n    print(\'EVT {"ev":"tick"}\')\n    time.sleep_ms(50)\n'
    mpremote(board, "exec", "--no-follow", loop)
    board.expect("tick", 30)
    # The next command has to interrupt the loop (Ctrl-C) before it gets a raw REPL.
    assert mpremote(board, "exec", "print('stopped')").strip() == "stopped"
    assert "KeyboardInterrupt" in board.console_text()
