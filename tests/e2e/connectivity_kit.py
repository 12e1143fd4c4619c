"""Helpers shared by the connectivity end-to-end tests (tests/e2e/test_connectivity_*.py)."""

from __future__ import annotations

import uuid
from pathlib import Path

from rig.backends.local import local_backend
from rig.broker import MosquittoBroker
from rig.cloud.runtime import CloudRuntime
from rig.drivers.base import Board
from rig.drivers.emulated import EmulatedBoard
from rig.pytest_plugin.boards import BoardFactory
from rig.strategies.provisioning import CustomerSetup, Provisioned, leaks

WAIT_S = 60.0  # generous: a loaded 2-core CI machine

_COLOURS = {
    (0, 0, 0): "off",
    (1, 1, 1): "white",
    (1, 1, 0): "orange",
    (0, 1, 0): "green",
    (0, 0, 1): "blue",
    (1, 0, 0): "red",
}


def emulated(boards: BoardFactory, **options: object) -> EmulatedBoard:
    """A fresh emulated board with its own chip id, so its serial (and thing) is unique even in a
    cloud shared by a whole test module."""
    options.setdefault("unique_id", uuid.uuid4().hex[:12])
    board = boards(1, **options)[0]
    assert isinstance(board, EmulatedBoard), "needs an emulated board (virtual radio, AP port)"
    return board


def connected(
    boards: BoardFactory, cloud_runtime: CloudRuntime, **options: object
) -> tuple[EmulatedBoard, Provisioned]:
    """A fresh board set up through its config page, connected to the cloud."""
    board = emulated(boards, **options)
    assert cloud_runtime.endpoint is not None
    return board, CustomerSetup(local_backend(cloud_runtime)).provision(board)


def led_patterns(board: Board) -> list[str]:
    return [e["pattern"] for e in board.events("led")]


def colours(board: EmulatedBoard) -> list[str]:
    """The pixel's colours in order, repeats folded."""
    out: list[str] = []
    for _, msg in board.trace.items("pixel"):
        r, g, b = msg["rgb"][0][:3]
        name = _COLOURS[(bool(r), bool(g), bool(b))]
        if not out or out[-1] != name:
            out.append(name)
    return out


def run_logs(runtime: CloudRuntime, board: EmulatedBoard) -> list[Path]:
    """The logs this board and this cloud wrote: the board's raw console log, the broker's and
    the cloud's logs."""
    return [board.workdir / "console.log", *sorted((runtime.home / "cloud").rglob("*.log"))]


def assert_no_leaks(secrets: list[str], *sources: str | Path) -> None:
    """No secret in any console text or log file given."""
    assert secrets and all(leaks(s, [s]) for s in secrets), "the scanner must see what it seeks"
    for source in sources:
        if isinstance(source, Path):
            text = source.read_text(errors="replace") if source.exists() else ""
            where = str(source)
        else:
            text, where = source, "console"
        found = leaks(text, secrets)
        assert not found, f"secrets in {where}: {found}"


class BrokerOutage:
    """Stop the rig's mosquitto for real, then start it again on the same port
    (`MosquittoBroker.stop()` / `start(port=...)`), with the auth last given to it.

    The cloud's own client keeps a persistent session that the broker saves when it stops and
    restores when it starts (rig/broker.py), so what a board publishes before the cloud's client
    is back waits for it in that session, as AWS's rules engine never misses a message."""

    def __init__(self, runtime: CloudRuntime) -> None:
        assert runtime.endpoint is not None
        assert isinstance(runtime.broker, MosquittoBroker), "needs the rig's own broker"
        self.runtime = runtime
        self.broker = runtime.broker
        self.port = runtime.endpoint.port
        self.logs: list[Path] = []

    def stop(self) -> None:
        if self.broker.log_file is not None:
            self.logs.append(self.broker.log_file)
        self.broker.stop()

    def start(self) -> None:
        self.broker.start(port=self.port)
        if self.broker.log_file is not None:
            self.logs.append(self.broker.log_file)
