"""`<home>/endpoint.json`: where a running cloud's broker listens (docs/contracts.md).

Written (atomically) once clients can connect, removed on a clean stop. A stale file left by a
killed cloud is recognised by its dead `pid`.

`<home>/cloud/broker-port`: the port the home's broker listened on, kept after the cloud stops so
that the next `cloud up` listens there again and boards configured with the endpoint reconnect
by themselves (the CA and the server certificate stay in the home too).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

FILE_NAME = "endpoint.json"
PORT_FILE = "cloud/broker-port"


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


def port_file(home: Path) -> Path:
    return home / PORT_FILE


def read_port(path: Path) -> int | None:
    """The TCP port a port file holds, or None (missing, unreadable or out of range)."""
    try:
        port = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return port if 0 < port < 65536 else None


def write_port(path: Path, port: int) -> None:
    """Write a port file whole (a reader sees the old port or the new one)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(f"{port}\n")
    os.replace(temporary, path)


def remembered_port(home: Path) -> int | None:
    """The port the home's broker listened on last, or None (never started, or unreadable)."""
    return read_port(port_file(home))


def remember_port(home: Path, port: int) -> None:
    write_port(port_file(home), port)
