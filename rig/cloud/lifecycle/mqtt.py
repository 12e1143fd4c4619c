"""Lifecycle events: `$aws/events/presence/connected|disconnected/<clientId>` and
`$aws/events/subscriptions/subscribed|unsubscribed/<clientId>`.

Presence comes from the broker plugin (rig/broker_plugin/buttonrig_auth.c, through
rig/cloud/auth/plugin_server.py): one CONNECTED report per allowed CONNECT and one DISCONNECTED
per end of a connection, whatever ended it, each with the certificate id of that connection
(`principalIdentifier`). The plugin gives the guide's disconnectReason when it knows it
(DUPLICATE_CLIENTID: a later CONNECT took the client id; AUTH_ERROR: the plugin refused a request
or the certificate). mosquitto 2.0.11 tells plugins no more (src/context.c context__disconnect
calls plugin__handle_disconnect(context, -1)), so for the other ends the reason is mosquitto's
own wording of it (src/loop.c do_disconnect), which it logs on `$SYS/broker/log/N` just before
the plugin's report; when that line does not come, CONNECTION_LOST.

Subscription events come from mosquitto's subscribe/unsubscribe lines on `$SYS/broker/log/#`
(mosquitto 2.0.11 has no plugin event for them).

"Client IDs that contain # or + do not receive lifecycle events" (AWS IoT guide, lifecycle
events). The cloud's own clients get none either. Without the plugin (an attached broker) there
are no presence events.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from rig.cloud.certificates.store import CLOUD_USER, PROBE_USER
from rig.cloud.core.events import now_ms
from rig.cloud.host.service import CloudService
from rig.cloud.lifecycle.store import PresenceStore

log = logging.getLogger(__name__)
BROKER_LOG_FILTER = "$SYS/broker/log/#"
# How mosquitto 2.0.11 words the end of a connection (src/loop.c do_disconnect), and the guide's
# disconnectReason for each.
_ENDED = re.compile(
    r"Client (?P<a>\S+) (?P<how>disconnected\.$|disconnected: |disconnected due to"
    r"|disconnected, not authorised|closed its connection|has exceeded timeout"
    r"|already connected, closing old connection|been disconnected by administrative action)"
    r"|(?:Socket error|Bad socket read/write) on client (?P<b>\S+)[,:]"
)
_REASONS = {
    "disconnected.": "CLIENT_INITIATED_DISCONNECT",  # the client's DISCONNECT
    "disconnected: ": "CONNECTION_LOST",  # a socket error: "disconnected: Connection reset…"
    "disconnected due to": "CLIENT_ERROR",  # malformed packet, protocol error, oversize …
    "disconnected, not authorised": "AUTH_ERROR",
    "closed its connection": "CONNECTION_LOST",
    "has exceeded timeout": "MQTT_KEEP_ALIVE_TIMEOUT",
    "already connected, closing old connection": "DUPLICATE_CLIENTID",
    "been disconnected by administrative action": "AUTH_ERROR",
}
# reasons the plugin knows itself; "WILL": the will was sent, so not the client's DISCONNECT
PLUGIN_REASONS = ("DUPLICATE_CLIENTID", "AUTH_ERROR")
# mosquitto's line comes before the plugin's report, through the cloud's MQTT connection
WORDS_WAIT_S = 0.5
WORDS_TTL_S = 2.0
WORDS_KEPT = 1000
_SUBSCRIBED = re.compile(r"^(?:\S+: )?(?P<id>\S+) (?P<qos>\d) (?P<filter>.+)$")
_UNSUBSCRIBED = re.compile(r"^(?:\S+: )?(?P<id>\S+) (?P<filter>.+)$")
Report = tuple[bool, str, str, str]  # (connected?, certificate id, client id, plugin's reason)
INTERNAL_CLIENTS = (CLOUD_USER, PROBE_USER, "<unknown>")
NO_SESSION = str(uuid.UUID(int=0))


def gets_lifecycle_events(client_id: str) -> bool:
    return client_id not in INTERNAL_CLIENTS and "+" not in client_id and "#" not in client_id


class Presence:
    """Turns the plugin's reports into presence events and the presence table, and the broker's
    subscribe lines into subscription events. `register()`, then `stop()`."""

    def __init__(
        self,
        service: CloudService,
        presence: PresenceStore,
        reports: queue.Queue[Report | None] | None = None,
    ) -> None:
        self.service = service
        self.presence = presence
        # called with each presence event after it is recorded (the runtime adds the v2 log)
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self._sessions: dict[str, tuple[str, str]] = {}  # client id -> (session, certificate)
        self._words: dict[str, tuple[str, float]] = {}  # client id -> (reason, when seen)
        self._words_seen = threading.Condition()
        # the plugin's reports, oldest first; the runtime keeps the queue across restarts of
        # the services, so reports made meanwhile are published by the next Presence
        self._reports: queue.Queue[Report | None] = (
            reports if reports is not None else queue.Queue()
        )
        self._thread = threading.Thread(target=self._run, name="presence", daemon=True)

    def register(self) -> None:
        self.service.subscribe(BROKER_LOG_FILTER, self._on_broker_log, qos=0)
        self._thread.start()

    def stop(self) -> None:
        """Publish the reports queued so far, then stop (later ones stay for the next one)."""
        if self._thread.is_alive():
            self._reports.put(None)
            self._thread.join(timeout=5)

    def report(self, connected: bool, certificate_id: str, client_id: str, reason: str) -> None:
        """The plugin's report (any thread): handled in order on the presence thread, which may
        wait a little for mosquitto's own words."""
        if gets_lifecycle_events(client_id):
            self._reports.put((connected, certificate_id, client_id, reason))

    # ---- the service's worker thread ----------------------------------------------------

    def _on_broker_log(self, topic: str, payload: bytes) -> None:
        line = payload.decode(errors="replace")
        if topic.endswith(("/subscribe", "/unsubscribe")):
            self._subscription(topic.endswith("/subscribe"), line)
            return
        ended = _ENDED.search(line)
        if ended:
            reason = _REASONS.get(ended["how"] or "", "CONNECTION_LOST")
            if reason in PLUGIN_REASONS:
                return  # the plugin's own report says it; kept, these words would go stale
            now = time.monotonic()
            with self._words_seen:
                if len(self._words) >= WORDS_KEPT:  # ends nobody reported (no plugin entry)
                    self._words = {
                        k: v for k, v in self._words.items() if now - v[1] <= WORDS_TTL_S
                    }
                self._words[ended["a"] or ended["b"]] = (reason, now)
                self._words_seen.notify_all()

    # ---- the presence thread ------------------------------------------------------------

    def _run(self) -> None:
        while (report := self._reports.get()) is not None:
            connected, certificate_id, client_id, reason = report
            try:
                if connected:
                    self._publish(client_id, certificate_id, None)
                else:
                    self._publish(client_id, certificate_id, self._reason(client_id, reason))
            except Exception:
                log.exception("a presence event for %s failed", client_id)

    def _reason(self, client_id: str, plugin_reason: str) -> str:
        words = self._take_words(client_id, 0 if plugin_reason in PLUGIN_REASONS else WORDS_WAIT_S)
        if plugin_reason in PLUGIN_REASONS:
            return plugin_reason
        if words is None or (plugin_reason == "WILL" and words == "CLIENT_INITIATED_DISCONNECT"):
            return "CONNECTION_LOST"
        return words

    def _take_words(self, client_id: str, wait_s: float) -> str | None:
        deadline = time.monotonic() + wait_s
        with self._words_seen:
            while True:
                seen = self._words.pop(client_id, None)
                if seen is not None and time.monotonic() - seen[1] <= WORDS_TTL_S:
                    return seen[0]
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._words_seen.wait(left)

    def _publish(self, client_id: str, certificate_id: str, reason: str | None) -> None:
        event_type = "connected" if reason is None else "disconnected"
        if reason is None:
            session = str(uuid.uuid4())
            self._sessions[client_id] = (session, certificate_id)
        else:
            known = self._sessions.get(client_id)
            session = known[0] if known and known[1] == certificate_id else NO_SESSION
            if known and known[1] == certificate_id:
                del self._sessions[client_id]
        event = _event(client_id, event_type, session, certificate_id)
        if reason is not None:  # disconnect messages only (AWS IoT guide, lifecycle events)
            event["clientInitiatedDisconnect"] = reason == "CLIENT_INITIATED_DISCONNECT"
            event["disconnectReason"] = reason
        self.presence.record(
            client_id, reason is None, session, certificate_id, event["timestamp"]
        )
        self.service.publish(f"$aws/events/presence/{event_type}/{client_id}", event)
        for listener in self.listeners:
            listener(event)

    def _subscription(self, subscribed: bool, line: str) -> None:
        """$aws/events/subscriptions/subscribed|unsubscribed/<clientId>, one event per filter
        (mosquitto logs each filter of a SUBSCRIBE on its own line; AWS may group them)."""
        match = (_SUBSCRIBED if subscribed else _UNSUBSCRIBED).match(line)
        if match is None or not gets_lifecycle_events(match["id"]):
            return
        client_id = match["id"]
        event_type = "subscribed" if subscribed else "unsubscribed"
        session, certificate_id = self._sessions.get(client_id, (NO_SESSION, ""))
        event = _event(client_id, event_type, session, certificate_id)
        event["topics"] = [match["filter"]]
        self.service.publish(f"$aws/events/subscriptions/{event_type}/{client_id}", event)


def _event(client_id: str, event_type: str, session: str, certificate_id: str) -> dict[str, Any]:
    """The fields every lifecycle event has (AWS IoT guide, lifecycle events)."""
    return {
        "clientId": client_id,
        "timestamp": now_ms(),
        "eventType": event_type,
        "sessionIdentifier": session,
        "principalIdentifier": certificate_id,
    }
