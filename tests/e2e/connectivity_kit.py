"""Helpers shared by the connectivity end-to-end tests (tests/e2e/test_connectivity_*.py)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from rig.broker import MosquittoBroker
from rig.cloud.auth.decisions import ConnectionDecision
from rig.cloud.clicks.store import ClickLog
from rig.cloud.runtime import CloudRuntime
from rig.drivers.base import Board
from rig.drivers.emulated import EmulatedBoard
from rig.mqtt.device_client import DeviceClient
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
    return board, CustomerSetup(cloud_runtime.cloud, cloud_runtime.endpoint).provision(board)


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
    (`MosquittoBroker.stop()` / `start(port=...)`), with the auth in force now.

    Model limitation, handled here: the cloud model hears a message only while its own MQTT client
    is subscribed, and after a restart the board may reconnect before the cloud service does
    (AWS's rules engine never misses a message). So `start(hold_off=[certificate ids])` keeps
    those certificates refused until `release()`, which the test calls once the cloud service is
    back (`wait_cloud_listening`)."""

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

    def start(self, hold_off: list[str]) -> None:
        server = self.runtime.plugin_server
        assert server is not None
        decide = self.runtime.decider.decide
        held = set(hold_off)

        def holding_off(certificate_id: str, client_id: str) -> ConnectionDecision:
            if certificate_id in held:
                return ConnectionDecision(False, "held off until the cloud service is back")
            return decide(certificate_id, client_id)

        server.decide = holding_off  # the broker plugin asks at each CONNECT
        self.broker.start(port=self.port)
        if self.broker.log_file is not None:
            self.logs.append(self.broker.log_file)

    def release(self) -> None:
        """The auth in force now, without the hold-off."""
        assert self.runtime.plugin_server is not None
        self.runtime.plugin_server.decide = self.runtime.decider.decide


def wait_cloud_listening(probe: DeviceClient, clicks: ClickLog, timeout: float = WAIT_S) -> None:
    """Publish click messages from another thing until the cloud records one: its service is
    connected and subscribed to iotbutton/+ again."""
    serial = probe.client_id
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe.client.is_connected():
            event_id = uuid.uuid4().hex[:16]
            message = {
                "serialNumber": serial,
                "batteryVoltage": "3000mV",
                "clickType": "SINGLE",
                "reportedTime": "2026-01-01T00:00:00.000Z",
                "eventId": event_id,
            }
            probe.client.publish(f"iotbutton/{serial}", json.dumps(message), qos=1)
            try:
                clicks.wait_for_ids(serial, [event_id], 1.0)
                return
            except TimeoutError:
                pass
        else:
            time.sleep(0.2)
    raise AssertionError(f"the cloud service did not hear {serial} within {timeout} s")
