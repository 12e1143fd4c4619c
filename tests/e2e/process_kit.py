"""Helpers for end-to-end tests that run the rig's commands as subprocesses."""

from __future__ import annotations

import os
from pathlib import Path

from rig.strategies.supervisor import process_alive


def processes_using(path: Path) -> list[str]:
    """Live processes whose command line or working directory names `path` (pid, command line,
    working directory), other than this one."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if (str(path) in cmdline or cwd.startswith(str(path))) and process_alive(int(proc.name)):
            found.append(f"{proc.name}: {cmdline.strip()} (cwd {cwd})")
    return found
