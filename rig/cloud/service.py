"""The cloud's privileged MQTT client: shadow service, presence events, registry-event publisher,
and a hook where other parts add their own topic handlers.

Threads: the MQTT link's network thread (rig/mqtt/link.py) answers shadow requests itself
and sorts every other message into a queue; one worker thread runs the hook handlers in arrival
order; one publisher thread drains the database outbox (events written by any process, e.g. the
CLI).

Why shadows run on the network thread (issue #4, docs/cloud-decisions.md "Shadow round trip"):
handing a request to another thread and its replies back cost two thread wake-ups and a GIL
hand-over per request, about as much as the shadow work itself. The network thread first takes in
every request already received (`MqttLink.data_waiting`), so a burst is still in flight together
and the 11th concurrent request of a thing gets 429; then it answers them in arrival order, each
in one database transaction, and writes each request's PUBACK and replies in one send before the
next. While a transaction waits for the database lock (another process writing, up to the 30 s
busy timeout), later requests wait unread; a wait that long could also let the broker's keepalive
(45 s of silence) drop the service, which the link then reconnects.

Handler hook (docs/contracts.md "Cloud service handlers"): every module in the package
`rig.cloud.handlers` that defines `register(service)` is called at start; it calls
`service.subscribe(topic_filter, handler)` with `handler(topic: str, payload: bytes) -> None`.
Hook handlers run on the worker thread, one message at a time; an exception is logged, never fatal.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import queue
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from rig.cloud import shadow as engine
from rig.cloud import shadows, wills
from rig.cloud.api import Cloud
from rig.cloud.authsync import CLOUD_USER, PROBE_USER
from rig.cloud.core import arn
from rig.cloud.core.events import now_ms
from rig.mqtt.endpoint import BrokerEndpoint, ClientIdentity
from rig.mqtt.link import MqttLink
from rig.mqtt.packets import Publish
from rig.mqtt.topic_filter import topic_filter_pattern

log = logging.getLogger(__name__)

Handler = Callable[[str, bytes], None]
MAX_IN_FLIGHT = 10  # "more than 10 in-flight requests" -> 429
MAX_DEFERRED_READS = 64  # reads a burst may take before its requests are answered
# The shadow service publishes its replies (accepted, rejected, delta, documents) at QoS 0: in the
# guide's "Thing Shadows Data Flow" a client subscribed with QoS 1 receives every one of them with
# "qos": 0 (docs/cloud-decisions.md "Shadow replies at QoS 0").
SHADOW_REPLY_QOS = 0
SHADOW_FILTERS = tuple(
    f"$aws/things/+/shadow/{middle}{op}" for middle in ("", "name/+/") for op in shadows.OPERATIONS
)
LOG_FILTER = "$SYS/broker/log/#"
LOG_TOPIC_PREFIX = "$SYS/broker/log/"
# Shadow messages in the outbox (REST changes) go out at SHADOW_REPLY_QOS like every other
# shadow message (decision S-23); the rest of the outbox (registry events) at QoS 1.
_SHADOW_MESSAGE_TOPIC = re.compile(r"^\$aws/things/[^/]+/shadow/")
_SHADOW_TOPIC = re.compile(
    r"^\$aws/things/(?P<thing>[^/]+)/shadow/(?:name/(?P<name>[^/]+)/)?(?P<op>update|get|delete)$"
)
_CONNECTED = re.compile(r"New client connected from \S+ as (?P<id>\S+) \(p\d+, c(?P<clean>\d)")
_DISCONNECTED = re.compile(
    r"(?:Client (?P<a>\S+) (?:disconnected|closed its connection|has exceeded timeout"
    r"|already connected, closing old connection))|(?:Socket error on client (?P<b>\S+),)"
)
_SUBSCRIBED = re.compile(r"^(?:\S+: )?(?P<id>\S+) (?P<qos>\d) (?P<filter>.+)$")
_UNSUBSCRIBED = re.compile(r"^(?:\S+: )?(?P<id>\S+) (?P<filter>.+)$")
INTERNAL_CLIENTS = (CLOUD_USER, PROBE_USER, "<unknown>")


@dataclass
class _Work:
    handler: Handler
    topic: str
    payload: bytes


@dataclass(frozen=True)
class _Route:
    topic_filter: str
    pattern: re.Pattern[str]
    handler: Handler


class _ShadowRequest(NamedTuple):  # a tuple: made for every request, on the network thread
    topic: str
    thing: str
    shadow_name: str
    operation: str
    payload: bytes


class CloudService:
    """Connects as the cloud user, routes messages to handlers, publishes replies and events."""

    def __init__(self, cloud: Cloud, endpoint: BrokerEndpoint, identity: ClientIdentity) -> None:
        self.cloud = cloud
        self.endpoint = endpoint
        self._routes: list[_Route] = []  # hook handlers, in registration order
        self._work: queue.Queue[_Work | None] = queue.Queue()
        # shadow requests taken in but not answered yet; only the network thread touches these
        self._shadow_requests: deque[_ShadowRequest] = deque()
        self._in_flight: dict[str, int] = {}
        self._deferred_reads = 0
        self._sessions: dict[str, str] = {}
        self._kicks: dict[str, str] = {}  # client id -> "pending" | "connected" (enforcer.py)
        self._kicks_lock = threading.Lock()
        # Who went away with which will (set by the runtime when it reads the broker's log);
        # the expected wills by topic, each the size of its payload (network thread only).
        self.fired_will: Callable[[str], wills.Will | None] = lambda _client_id: None
        self._expected_wills: dict[str, int] = {}
        self._stopping = threading.Event()
        self._started_ms = now_ms()
        self._link = MqttLink(
            endpoint,
            identity,
            CLOUD_USER,
            on_publish=self._on_message,
            after_read=self._answer_shadow_requests,
        )
        self._threads: list[threading.Thread] = []

    # ---- hook for other parts ----------------------------------------------------------

    def subscribe(self, topic_filter: str, handler: Handler, qos: int = 1) -> None:
        """Route messages matching `topic_filter` to `handler` (worker thread, in order).

        Once running, returns when the broker has the subscription (up to 20 s)."""
        self._routes.append(_Route(topic_filter, topic_filter_pattern(topic_filter), handler))
        self._link.subscribe(topic_filter, qos)

    def publish(self, topic: str, payload: bytes | dict[str, Any], qos: int = 1) -> None:
        data = shadows.encode(payload) if isinstance(payload, dict) else payload
        self._link.publish(topic, data, qos)

    # ---- life cycle --------------------------------------------------------------------

    def start(self, timeout: float = 20.0) -> None:
        with self.cloud.store.write() as db:  # nobody could subscribe to events made while down
            db.execute("DELETE FROM outbox WHERE created_ms < ?", (self._started_ms,))
        self.subscribe(LOG_FILTER, self._on_broker_log, qos=0)
        for topic_filter in SHADOW_FILTERS:  # answered on the network thread, not routed
            self._link.subscribe(topic_filter, 1)
        self._load_handler_modules()
        for target, name in ((self._work_loop, "cloud-worker"), (self._outbox_loop, "outbox")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        self._link.start()
        if not self._link.connected.wait(timeout):
            self.stop()
            raise RuntimeError(f"the cloud service could not connect within {timeout:.0f} s")

    def _load_handler_modules(self) -> None:
        try:
            package = importlib.import_module("rig.cloud.handlers")
        except ImportError:
            return
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            name = f"{package.__name__}.{info.name}"
            try:  # one part's broken handler must not take the whole cloud down
                register = getattr(importlib.import_module(name), "register", None)
                if callable(register):
                    register(self)
            except Exception:
                log.exception(
                    "cloud handler module %s failed to load; its topics go unserved", name
                )

    def stop(self) -> None:
        self._stopping.set()
        self._work.put(None)
        self._link.stop()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    # ---- link callbacks (network thread) ------------------------------------------------

    def _on_message(self, message: Publish) -> None:
        topic, payload = message.topic, message.payload
        shadow = _SHADOW_TOPIC.match(topic)
        if shadow is not None and self._is_expected_will(topic, payload):
            log.info("ignored the Last Will on %s, as AWS IoT's shadow service does", topic)
        elif shadow is not None:
            try:
                self._take_shadow_request(shadow, topic, payload)
            except Exception:  # never let it reach the link: it would drop the connection
                log.exception("taking the shadow request on %s failed", topic)
        elif topic.startswith(LOG_TOPIC_PREFIX):
            self._note_fired_will(payload)
        for route in self._routes:
            if route.pattern.fullmatch(topic):
                self._work.put(_Work(route.handler, topic, payload))

    # ---- Last Wills on shadow topics (network thread; rig/cloud/wills.py, S-27) ----------

    def _note_fired_will(self, payload: bytes) -> None:
        """A connection ended without DISCONNECT: the broker sends its will (if any) next."""
        client_id = wills.lost_connection_client(payload.decode(errors="replace"))
        if client_id is None or client_id in INTERNAL_CLIENTS:
            return
        try:
            will = self.fired_will(client_id)
        except Exception:  # never let it reach the link: it would drop the connection
            log.exception("looking up the Last Will of %s failed", client_id)
            return
        if will is not None and _SHADOW_TOPIC.match(will.topic):
            self._expected_wills[will.topic] = will.size

    def _is_expected_will(self, topic: str, payload: bytes) -> bool:
        """Whether this message is the will just fired on its topic. Only the first message on
        the topic after the disconnect line can be: the broker sends the will right after it."""
        size = self._expected_wills.pop(topic, None) if self._expected_wills else None
        return size == len(payload)

    # ---- worker --------------------------------------------------------------------------

    def _work_loop(self) -> None:
        while True:
            work = self._work.get()
            if work is None:
                return
            try:
                work.handler(work.topic, work.payload)
            except Exception:
                log.exception("handler for %s failed", work.topic)

    # ---- shadows (network thread) -------------------------------------------------------

    def _take_shadow_request(self, match: re.Match[str], topic: str, payload: bytes) -> None:
        """Count the request in flight, or answer 429 at once when its thing has too many."""
        thing = match["thing"]
        in_flight = self._in_flight.get(thing, 0)
        if in_flight >= MAX_IN_FLIGHT:
            rejected = shadows.ShadowStore.rejected(
                topic, engine.ShadowError.too_many_requests(), payload
            )
            for reply_topic, body in rejected.messages:  # written after this read
                self.publish(reply_topic, body, SHADOW_REPLY_QOS)
            return
        self._in_flight[thing] = in_flight + 1
        self._shadow_requests.append(
            _ShadowRequest(topic, thing, match["name"] or "", match["op"], payload)
        )

    def _answer_shadow_requests(self) -> None:
        """After each read: answer the requests taken in, oldest first, each written at once.

        While more bytes are waiting, a burst is still coming in: read it all first (up to
        MAX_DEFERRED_READS reads, so a flood cannot hold the answers back for ever)."""
        if not self._shadow_requests:
            return
        if self._deferred_reads < MAX_DEFERRED_READS and self._link.data_waiting():
            self._deferred_reads += 1
            return
        self._deferred_reads = 0
        while self._shadow_requests:
            request = self._shadow_requests.popleft()
            try:
                self._answer_shadow_request(request)
            except Exception:  # never let it reach the link: it would drop the connection
                log.exception("answering the shadow request on %s failed", request.topic)
            finally:
                left = self._in_flight[request.thing] - 1
                if left:
                    self._in_flight[request.thing] = left
                else:
                    del self._in_flight[request.thing]
        self._link.send_now()  # e.g. a 429 of this burst

    def _answer_shadow_request(self, request: _ShadowRequest) -> None:
        try:
            outcome = self.cloud.shadow_store.handle(
                request.operation, request.thing, request.payload, request.shadow_name
            )
        except Exception:  # e.g. the database stayed locked: answer, never leave it hanging
            log.exception("shadow request on %s failed", request.topic)
            outcome = shadows.ShadowStore.rejected(
                request.topic, engine.ShadowError.internal(), request.payload
            )
        for reply_topic, body in outcome.messages:
            self.publish(reply_topic, body, SHADOW_REPLY_QOS)
        self._link.send_now()  # the PUBACK and every reply in one send, before the next request

    # ---- registry events outbox ----------------------------------------------------------

    def _outbox_loop(self) -> None:
        while not self._stopping.wait(0.05):
            if not self._link.connected.is_set():
                continue
            try:
                self._drain_outbox()
            except Exception:
                log.exception("publishing the outbox failed")

    def _drain_outbox(self) -> None:
        rows = (
            self.cloud.store.read()
            .execute("SELECT seq, topic, payload FROM outbox ORDER BY seq LIMIT 200")
            .fetchall()
        )
        if not rows:
            return
        for row in rows:
            topic = row["topic"]
            qos = SHADOW_REPLY_QOS if _SHADOW_MESSAGE_TOPIC.match(topic) else 1
            self._link.publish(topic, bytes(row["payload"]), qos=qos)
        with self.cloud.store.write() as db:
            db.execute("DELETE FROM outbox WHERE seq <= ?", (rows[-1]["seq"],))

    # ---- presence (from mosquitto's log on $SYS/broker/log/#) ----------------------------

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
            self._presence("disconnected", disconnected["a"] or disconnected["b"])

    def expect_kick(self, client_id: str) -> None:
        """The cloud is about to take over `client_id` to disconnect it (rig/cloud/enforcer.py):
        its takeover connection's own connect and disconnect are not the device's presence."""
        with self._kicks_lock:
            self._kicks[client_id] = "pending"

    def cancel_kick(self, client_id: str) -> None:
        with self._kicks_lock:
            self._kicks.pop(client_id, None)

    def _kicker_session(self, event_type: str, client_id: str) -> bool:
        """Whether this presence line is the cloud's takeover connection, not the device."""
        with self._kicks_lock:
            state = self._kicks.get(client_id)
            if state == "pending" and event_type == "connected":
                self._kicks[client_id] = "connected"
                return True
            if state == "connected" and event_type == "disconnected":
                del self._kicks[client_id]
                return True
            return False

    def _presence(self, event_type: str, client_id: str) -> None:
        if client_id in INTERNAL_CLIENTS or "+" in client_id or "#" in client_id:
            return  # "Client IDs that contain # or + do not receive lifecycle events."
        if self._kicker_session(event_type, client_id):
            return
        if event_type == "connected":
            session = str(uuid.uuid4())
            self._sessions[client_id] = session
        else:
            session = self._sessions.pop(client_id, None) or str(uuid.UUID(int=0))
        principal = self._certificate_of(client_id)
        event = {
            "clientId": client_id,
            "timestamp": now_ms(),
            "eventType": event_type,
            "sessionIdentifier": session,
            "principalIdentifier": principal,
        }
        with self.cloud.store.write() as db:
            db.execute(
                "INSERT INTO presence (client_id, connected, session_id, principal, changed_ms)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(client_id) DO UPDATE SET"
                " connected = excluded.connected, session_id = excluded.session_id,"
                " principal = excluded.principal, changed_ms = excluded.changed_ms",
                (client_id, event_type == "connected", session, principal, event["timestamp"]),
            )
        self.publish(f"$aws/events/presence/{event_type}/{client_id}", event)

    def _subscription(self, subscribed: bool, line: str) -> None:
        """$aws/events/subscriptions/subscribed|unsubscribed/<clientId>, one event per filter
        (mosquitto logs each filter of a SUBSCRIBE on its own line; AWS may group them)."""
        match = (_SUBSCRIBED if subscribed else _UNSUBSCRIBED).match(line)
        if match is None:
            return
        client_id = match["id"]
        if client_id in INTERNAL_CLIENTS or "+" in client_id or "#" in client_id:
            return
        event_type = "subscribed" if subscribed else "unsubscribed"
        event = {
            "clientId": client_id,
            "timestamp": now_ms(),
            "eventType": event_type,
            "sessionIdentifier": self._sessions.get(client_id, str(uuid.UUID(int=0))),
            "principalIdentifier": self._certificate_of(client_id),
            "topics": [match["filter"]],
        }
        self.publish(f"$aws/events/subscriptions/{event_type}/{client_id}", event)

    def _certificate_of(self, client_id: str) -> str:
        row = (
            self.cloud.store.read()
            .execute(
                "SELECT certificate_id FROM certificates WHERE common_name = ?"
                " ORDER BY status = 'ACTIVE' DESC, created_ms DESC LIMIT 1",
                (client_id,),
            )
            .fetchone()
        )
        return row["certificate_id"] if row else arn.ACCOUNT


def presence_of(cloud: Cloud, client_id: str) -> bool | None:
    """Whether the cloud last saw `client_id` connected (None: never seen)."""
    row = (
        cloud.store.read()
        .execute("SELECT connected FROM presence WHERE client_id = ?", (client_id,))
        .fetchone()
    )
    return None if row is None else bool(row["connected"])
