"""`<home>/endpoint.json`: where a running cloud's broker listens (docs/contracts.md).

Written (atomically) once clients can connect, removed on a clean stop. A stale file left by a
killed cloud is recognised by its dead `pid`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

FILE_NAME = "endpoint.json"


def path_of(home: Path) -> Path:
    return home / FILE_NAME


def write(home: Path, data: dict[str, Any]) -> Path:
    target = path_of(home)
    temporary = target.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(temporary, target)
    return target


def read(home: Path) -> dict[str, Any] | None:
    """The endpoint of the cloud running for this home, or None (none, or a stale file)."""
    return running_cloud(home)


def running_cloud(home: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path_of(home).read_text())
    except (OSError, ValueError):
        return None
    pid = data.get("pid")
    if not isinstance(pid, int) or not _alive(pid):
        return None
    return data


def remove(home: Path, pid: int) -> None:
    """Remove the file if it is still ours (a newer cloud may have replaced it)."""
    try:
        data = json.loads(path_of(home).read_text())
    except (OSError, ValueError):
        return
    if data.get("pid") == pid:
        path_of(home).unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purpose
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True
