"""The disconnectReason of each end the broker plugin reports (rig/cloud/lifecycle/mqtt.py):
the plugin's own reason when it has one, else mosquitto 2.0.11's wording of the end on
`$SYS/broker/log/N` (src/loop.c do_disconnect), else CONNECTION_LOST."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rig.cloud.core.store import Store
from rig.cloud.lifecycle import mqtt as lifecycle
from rig.cloud.lifecycle.mqtt import Presence
from rig.cloud.lifecycle.store import PresenceStore


class FakeService:
    """What Presence needs of the cloud service: subscribe (ignored), publish (recorded)."""

    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []

    def subscribe(self, *_args: object, **_kwargs: object) -> None:
        pass

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        self.published.append((topic, payload))


def _events(
    tmp_path: Path, reason: str, line: str | None, monkeypatch: pytest.MonkeyPatch
) -> list[dict[str, Any]]:
    monkeypatch.setattr(lifecycle, "WORDS_WAIT_S", 0.05)
    service = FakeService()
    presence = Presence(service, PresenceStore(Store(tmp_path / "state.db")))  # type: ignore[arg-type]
    presence.register()
    presence.report(True, "cert-1", "dev-1", "-")
    if line is not None:
        presence._on_broker_log("$SYS/broker/log/N", f"2026-12-06T20:00:00: {line}".encode())
    presence.report(False, "cert-1", "dev-1", reason)
    presence.stop()
    assert [topic.split("/")[3] for topic, _ in service.published] == [
        "connected",
        "disconnected",
    ]
    return [payload for _, payload in service.published]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("Client dev-1 disconnected.", "CLIENT_INITIATED_DISCONNECT"),
        ("Client dev-1 closed its connection.", "CONNECTION_LOST"),
        ("Client dev-1 has exceeded timeout, disconnecting.", "MQTT_KEEP_ALIVE_TIMEOUT"),
        ("Client dev-1 disconnected due to protocol error.", "CLIENT_ERROR"),
        ("Client dev-1 disconnected due to oversize packet.", "CLIENT_ERROR"),
        ("Client dev-1 disconnected: Connection reset by peer.", "CONNECTION_LOST"),
        ("Socket error on client dev-1, disconnecting.", "CONNECTION_LOST"),
        ("Bad socket read/write on client dev-1: Connection reset by peer", "CONNECTION_LOST"),
        (None, "CONNECTION_LOST"),
    ],
)
def test_an_end_the_plugin_cannot_name_takes_mosquittos_words(
    tmp_path: Path, line: str | None, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    connected, disconnected = _events(tmp_path, "-", line, monkeypatch)
    assert "disconnectReason" not in connected and "clientInitiatedDisconnect" not in connected
    assert disconnected["principalIdentifier"] == connected["principalIdentifier"] == "cert-1"
    assert disconnected["sessionIdentifier"] == connected["sessionIdentifier"]
    assert disconnected["disconnectReason"] == reason
    assert disconnected["clientInitiatedDisconnect"] is (reason == "CLIENT_INITIATED_DISCONNECT")


@pytest.mark.parametrize("reason", ["DUPLICATE_CLIENTID", "AUTH_ERROR"])
def test_the_plugins_own_reason_wins(
    tmp_path: Path, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, disconnected = _events(tmp_path, reason, "Client dev-1 disconnected.", monkeypatch)
    assert disconnected["disconnectReason"] == reason


def test_a_sent_will_is_never_a_client_disconnect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, disconnected = _events(tmp_path, "WILL", None, monkeypatch)
    assert disconnected["disconnectReason"] == "CONNECTION_LOST"
    (tmp_path / "b").mkdir()
    _, disconnected = _events(
        tmp_path / "b", "WILL", "Client dev-1 has exceeded timeout, disconnecting.", monkeypatch
    )
    assert disconnected["disconnectReason"] == "MQTT_KEEP_ALIVE_TIMEOUT"
