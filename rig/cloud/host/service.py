"""The cloud's privileged MQTT client: the host every cloud service plugs its topics into.

It holds one MQTT link (rig/mqtt/link.py) as the cloud user and offers services two ways in:

* `subscribe(topic_filter, handler)`: `handler(topic, payload)` runs on one worker thread, in
  arrival order, one message at a time; an exception is logged, never fatal. Clicks, presence,
  ping and the services to come (jobs, rules, 1-Click) use it.
* `tap(subscriptions, on_message, after_read)`: `on_message(message)` runs on the link's network
  thread for every message (the tap picks its own), and `after_read()` after each read. Only the
  shadow service uses it (rig/cloud/shadow/mqtt.py): answering on the network thread saves two
  thread wake-ups and a GIL hand-over per request (docs/cloud-decisions.md "Shadow round trip").

The host's session is persistent (clean session off, a stable client id, the services' QoS 1
subscriptions): while it is away (a restart, a lost connection) and the broker stays up, the
broker keeps every QoS 1 message for it and hands them over on its return, so a click the broker
acknowledged to a device reaches the click log (docs/cloud-decisions.md "The cloud's session").
A QoS 1 message is acknowledged to the broker only once every handler it was routed to has run
(a message only taps take, once they have): if the process dies before that, the broker sends
it again on the next connection. `stop()` stops the link before the worker, and the worker
finishes every message the link took in.

A third thread publishes the database outbox: messages any process wrote in its own transaction
(registry events, REST shadow changes), in order, then deleted.

Which services run is decided by whoever composes the cloud (rig/cloud/runtime.py registers
each one explicitly; docs/contracts.md "Cloud service handlers"). The host imports no service.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rig.cloud.certificates.store import CLOUD_USER
from rig.cloud.core import jsoncodec
from rig.cloud.core.events import now_ms
from rig.cloud.core.store import Store
from rig.mqtt.endpoint import BrokerEndpoint, ClientIdentity
from rig.mqtt.link import MqttLink
from rig.mqtt.packets import Publish
from rig.mqtt.topic_filter import topic_filter_pattern

log = logging.getLogger(__name__)

Handler = Callable[[str, bytes], None]
NetworkHandler = Callable[[Publish], None]
# Shadow messages in the outbox (REST changes) go out at QoS 0 like every other shadow message
# (docs/cloud-decisions.md "Shadow replies at QoS 0"); the rest (registry events) at QoS 1.
SHADOW_MESSAGE_TOPIC = re.compile(r"^\$aws/things/[^/]+/shadow/")
OUTBOX_BATCH = 200


@dataclass
class _Work:
    handler: Handler
    topic: str
    payload: bytes
    acknowledge: int = 0  # the QoS 1 packet id to acknowledge once handled (its last handler)


@dataclass(frozen=True)
class _Route:
    topic_filter: str
    pattern: re.Pattern[str]
    handler: Handler


class CloudService:
    """Connects as the cloud user, routes messages to services, publishes their messages."""

    def __init__(self, store: Store, endpoint: BrokerEndpoint, identity: ClientIdentity) -> None:
        self.store = store
        self.endpoint = endpoint
        self._routes: list[_Route] = []  # worker-thread handlers, in registration order
        self._taps: list[NetworkHandler] = []
        self._after_reads: list[Callable[[], None]] = []
        self._work: queue.Queue[_Work | None] = queue.Queue()
        self._stopping = threading.Event()
        self._started_ms = now_ms()
        self._link = MqttLink(
            endpoint,
            identity,
            CLOUD_USER,
            on_publish=self._on_message,
            after_read=self._after_read,
            clean_session=False,
            acknowledge_on_receipt=False,
        )
        self._threads: list[threading.Thread] = []

    # ---- the two ways in ---------------------------------------------------------------

    def subscribe(self, topic_filter: str, handler: Handler, qos: int = 1) -> None:
        """Route messages matching `topic_filter` to `handler` (worker thread, in order).

        Once running, returns when the broker has the subscription (up to 20 s)."""
        self._routes.append(_Route(topic_filter, topic_filter_pattern(topic_filter), handler))
        self._link.subscribe(topic_filter, qos)

    def tap(
        self,
        subscriptions: Sequence[tuple[str, int]],
        on_message: NetworkHandler,
        after_read: Callable[[], None] | None = None,
    ) -> None:
        """Subscribe to each (topic filter, QoS) and see every message on the network thread.
        Register before `start()`; `on_message` and `after_read` must never block for long."""
        self._taps.append(on_message)
        if after_read is not None:
            self._after_reads.append(after_read)
        for topic_filter, qos in subscriptions:
            self._link.subscribe(topic_filter, qos)

    def publish(self, topic: str, payload: bytes | dict[str, Any], qos: int = 1) -> None:
        data = jsoncodec.dumps(payload) if isinstance(payload, dict) else payload
        self._link.publish(topic, data, qos)

    def send_now(self) -> None:
        """Write what is queued on the link now (network thread: e.g. a PUBACK and its replies
        in one send)."""
        self._link.send_now()

    def data_waiting(self) -> bool:
        """Whether more bytes from the broker are waiting to be read (network thread)."""
        return self._link.data_waiting()

    # ---- life cycle --------------------------------------------------------------------

    def start(self, timeout: float = 20.0) -> None:
        with self.store.write() as db:  # nobody could subscribe to events made while down
            db.execute("DELETE FROM outbox WHERE created_ms < ?", (self._started_ms,))
        for target, name in ((self._work_loop, "cloud-worker"), (self._outbox_loop, "outbox")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        self._link.start()
        if not self._link.connected.wait(timeout):
            self.stop()
            raise RuntimeError(f"the cloud service could not connect within {timeout:.0f} s")

    def stop(self) -> None:
        self._stopping.set()
        self._link.stop()  # first: nothing it acknowledges may land behind the worker's end
        self._work.put(None)
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    # ---- link callbacks (network thread) ------------------------------------------------

    def _on_message(self, message: Publish) -> None:
        for tap in self._taps:
            try:
                tap(message)
            except Exception:  # never let it reach the link: it would drop the connection
                log.exception("the network-thread handler failed on %s", message.topic)
        work = [
            _Work(route.handler, message.topic, message.payload)
            for route in self._routes
            if route.pattern.fullmatch(message.topic)
        ]
        if message.qos and work:
            work[-1].acknowledge = message.packet_id  # once its last handler has run
        elif message.qos:
            self._link.acknowledge(message.packet_id)  # the taps are done with it
        for item in work:
            self._work.put(item)

    def _after_read(self) -> None:
        for after_read in self._after_reads:
            try:
                after_read()
            except Exception:  # never let it reach the link: it would drop the connection
                log.exception("the after-read handler failed")

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
            if work.acknowledge:  # a handler that failed would fail again: not redelivered
                self._link.acknowledge(work.acknowledge)

    # ---- outbox --------------------------------------------------------------------------

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
            self.store.read()
            .execute(
                "SELECT seq, topic, payload FROM outbox ORDER BY seq LIMIT ?", (OUTBOX_BATCH,)
            )
            .fetchall()
        )
        if not rows:
            return
        for row in rows:
            topic = row["topic"]
            qos = 0 if SHADOW_MESSAGE_TOPIC.match(topic) else 1
            self._link.publish(topic, bytes(row["payload"]), qos=qos)
        with self.store.write() as db:
            db.execute("DELETE FROM outbox WHERE seq <= ?", (rows[-1]["seq"],))
