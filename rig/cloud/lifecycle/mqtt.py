"""Lifecycle events: `$aws/events/presence/connected|disconnected/<clientId>` and
`$aws/events/subscriptions/subscribed|unsubscribed/<clientId>`, made from mosquitto's log lines on
`$SYS/broker/log/#` (the broker tells its clients nothing else about the others).

"Client IDs that contain # or + do not receive lifecycle events" (AWS IoT guide, lifecycle
events). The cloud's own clients get none either.

`principalIdentifier` is the id of the certificate the connection used, as the broker plugin
reported it at CONNECT (`certificate_of`, rig/cloud/auth/plugin_server.py); without the plugin
(attach mode) it is guessed from the certificates whose CN is the client id.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from rig.cloud.certificates.store import CLOUD_USER, PROBE_USER, Certificates
from rig.cloud.core import arn
from rig.cloud.core.events import now_ms
from rig.cloud.host.service import CloudService
from rig.cloud.lifecycle.store import PresenceStore

BROKER_LOG_FILTER = "$SYS/broker/log/#"
_CONNECTED = re.compile(r"New client connected from \S+ as (?P<id>\S+) \(p\d+, c(?P<clean>\d)")
_DISCONNECTED = re.compile(
    r"(?:Client (?P<a>\S+) (?P<how>disconnected\.$|disconnected|closed its connection"
    r"|has exceeded timeout|already connected, closing old connection"
    r"|been disconnected by administrative action))"
    r"|(?:(?:Socket error|Bad socket read/write) on client (?P<b>\S+)[,:])"
)
# The guide's disconnectReason for each way mosquitto 2.0.11 words the end of a connection
# (src/loop.c, src/handle_connect.c, src/plugin_public.c; "been disconnected by administrative
# action" is the broker plugin refusing a request or a certificate).
_REASONS = {
    "disconnected.": "CLIENT_INITIATED_DISCONNECT",  # the client's DISCONNECT
    "disconnected": "CLIENT_ERROR",  # "disconnected: Protocol error.", "disconnected due to …"
    "closed its connection": "CONNECTION_LOST",
    "has exceeded timeout": "MQTT_KEEP_ALIVE_TIMEOUT",
    "already connected, closing old connection": "DUPLICATE_CLIENTID",
    "been disconnected by administrative action": "AUTH_ERROR",
}
_SUBSCRIBED = re.compile(r"^(?:\S+: )?(?P<id>\S+) (?P<qos>\d) (?P<filter>.+)$")
_UNSUBSCRIBED = re.compile(r"^(?:\S+: )?(?P<id>\S+) (?P<filter>.+)$")
INTERNAL_CLIENTS = (CLOUD_USER, PROBE_USER, "<unknown>")
NO_SESSION = str(uuid.UUID(int=0))


def gets_lifecycle_events(client_id: str) -> bool:
    return client_id not in INTERNAL_CLIENTS and "+" not in client_id and "#" not in client_id


class Presence:
    """Turns the broker's log lines into lifecycle events and the presence table."""

    def __init__(
        self,
        service: CloudService,
        presence: PresenceStore,
        certificates: Certificates,
        certificate_of: Callable[[str], str | None] = lambda _client_id: None,
    ) -> None:
        self.service = service
        self.presence = presence
        self.certificates = certificates
        self.certificate_of = certificate_of  # client id -> its live connection's certificate
        self._sessions: dict[str, str] = {}  # worker thread only

    def register(self) -> None:
        self.service.subscribe(BROKER_LOG_FILTER, self._on_broker_log, qos=0)

    # ---- worker thread --------------------------------------------------------------------

    def _on_broker_log(self, topic: str, payload: bytes) -> None:
        line = payload.decode(errors="replace")
        if topic.endswith(("/subscribe", "/unsubscribe")):
            self._subscription(topic.endswith("/subscribe"), line)
            return
        connected = _CONNECTED.search(line)
        if connected:
            self._presence("connected", connected["id"])
            return
        disconnected = _DISCONNECTED.search(line)
        if disconnected:
            reason = _REASONS.get(disconnected["how"] or "", "CONNECTION_LOST")
            self._presence("disconnected", disconnected["a"] or disconnected["b"], reason)

    def _presence(self, event_type: str, client_id: str, reason: str | None = None) -> None:
        if not gets_lifecycle_events(client_id):
            return
        if event_type == "connected":
            session = str(uuid.uuid4())
            self._sessions[client_id] = session
        else:
            session = self._sessions.pop(client_id, None) or NO_SESSION
        principal = self._principal_of(client_id)
        event = {
            "clientId": client_id,
            "timestamp": now_ms(),
            "eventType": event_type,
            "sessionIdentifier": session,
            "principalIdentifier": principal,
        }
        if reason is not None:  # disconnect messages only (AWS IoT guide, lifecycle events)
            event["clientInitiatedDisconnect"] = reason == "CLIENT_INITIATED_DISCONNECT"
            event["disconnectReason"] = reason
        self.presence.record(
            client_id, event_type == "connected", session, principal, event["timestamp"]
        )
        self.service.publish(f"$aws/events/presence/{event_type}/{client_id}", event)

    def _subscription(self, subscribed: bool, line: str) -> None:
        """$aws/events/subscriptions/subscribed|unsubscribed/<clientId>, one event per filter
        (mosquitto logs each filter of a SUBSCRIBE on its own line; AWS may group them)."""
        match = (_SUBSCRIBED if subscribed else _UNSUBSCRIBED).match(line)
        if match is None or not gets_lifecycle_events(match["id"]):
            return
        client_id = match["id"]
        event_type = "subscribed" if subscribed else "unsubscribed"
        event = {
            "clientId": client_id,
            "timestamp": now_ms(),
            "eventType": event_type,
            "sessionIdentifier": self._sessions.get(client_id, NO_SESSION),
            "principalIdentifier": self._principal_of(client_id),
            "topics": [match["filter"]],
        }
        self.service.publish(f"$aws/events/subscriptions/{event_type}/{client_id}", event)

    def _principal_of(self, client_id: str) -> str:
        return (
            self.certificate_of(client_id)
            or self.certificates.newest_for_client(client_id)
            or arn.ACCOUNT
        )
