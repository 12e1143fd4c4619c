"""Which broker log lines the lifecycle service takes for a connect or a disconnect
(rig/cloud/lifecycle/mqtt.py), with the wording of mosquitto 2.0.11 (src/loop.c, src/context.c,
src/handle_connect.c) and the broker plugin's kick."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rig.cloud.core.store import Store
from rig.cloud.lifecycle.mqtt import Presence
from rig.cloud.lifecycle.store import PresenceStore


class FakeService:
    """What Presence needs of the cloud service: publish (recorded)."""

    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        self.published.append((topic, payload))


class NoCertificates:
    def newest_for_client(self, _client_id: str) -> str | None:
        return None


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("Client dev-1 disconnected.", "CLIENT_INITIATED_DISCONNECT"),
        ("Client dev-1 closed its connection.", "CONNECTION_LOST"),
        ("Client dev-1 has exceeded timeout, disconnecting.", "MQTT_KEEP_ALIVE_TIMEOUT"),
        ("Client dev-1 disconnected: Protocol error.", "CLIENT_ERROR"),
        ("Client dev-1 already connected, closing old connection.", "DUPLICATE_CLIENTID"),
        ("Client dev-1 been disconnected by administrative action.", "AUTH_ERROR"),
        ("Socket error on client dev-1, disconnecting.", "CONNECTION_LOST"),
        ("Bad socket read/write on client dev-1: Connection reset by peer", "CONNECTION_LOST"),
    ],
)
def test_every_way_a_connection_ends_is_a_disconnect_with_its_reason(
    tmp_path: Path, line: str, reason: str
) -> None:
    service = FakeService()
    store = Store(tmp_path / "state.db")
    presence = Presence(service, PresenceStore(store), NoCertificates(), lambda _c: "cert-1")  # type: ignore[arg-type]
    presence._on_broker_log(
        "$SYS/broker/log/N", b"New client connected from 127.0.0.1:1 as dev-1 (p2, c1, k30)."
    )
    presence._on_broker_log("$SYS/broker/log/N", f"2026-12-06T20:00:00: {line}".encode())
    kinds = [topic.split("/")[3] for topic, _ in service.published]
    assert kinds == ["connected", "disconnected"], service.published
    connected, disconnected = service.published[0][1], service.published[1][1]
    assert "disconnectReason" not in connected and "clientInitiatedDisconnect" not in connected
    assert disconnected["principalIdentifier"] == "cert-1"
    assert disconnected["disconnectReason"] == reason
    assert disconnected["clientInitiatedDisconnect"] is (reason == "CLIENT_INITIATED_DISCONNECT")
    assert PresenceStore(store).connected("dev-1") is False
    store.close()
