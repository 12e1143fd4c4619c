"""The shadow service on MQTT: `$aws/things/<thing>/shadow[/name/<name>]/<op>` answered on the
cloud service's network thread (rig/cloud/host/service.py `tap`).

Why the network thread (issue #4, docs/cloud-decisions.md "Shadow round trip"): handing a request
to another thread and its replies back cost two thread wake-ups and a GIL hand-over per request,
about as much as the shadow work itself. After each read we first take in every request already
received (`data_waiting`), so a burst is still in flight together and the 11th concurrent request
of a thing gets 429; then we answer them in arrival order, each in one database transaction, and
write each request's PUBACK and replies in one send before the next. While a transaction waits
for the database lock (another process writing, up to the 30 s busy timeout), later requests wait
unread; a wait that long could also let the broker's keepalive (45 s of silence) drop the
service, which the link then reconnects.

Last Wills on shadow topics are ignored, as AWS IoT's shadow service does (docs/cloud-decisions.md
S-27): the broker plugin reports each will it lets through before the broker queues it
(rig/broker_plugin/buttonrig_auth.c, "WILL") into `wills` (rig/cloud/shadow/wills.py); the next
message on that topic with the same payload is the will.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from typing import NamedTuple

from rig.cloud.host.service import CloudService
from rig.cloud.shadow import engine
from rig.cloud.shadow.store import OPERATIONS, ShadowStore
from rig.cloud.shadow.wills import ExpectedWills
from rig.mqtt.packets import Publish

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 10  # "more than 10 in-flight requests" -> 429
MAX_DEFERRED_READS = 64  # reads a burst may take before its requests are answered
# The shadow service publishes its replies (accepted, rejected, delta, documents) at QoS 0: in the
# guide's "Thing Shadows Data Flow" a client subscribed with QoS 1 receives every one of them with
# "qos": 0 (docs/cloud-decisions.md "Shadow replies at QoS 0").
SHADOW_REPLY_QOS = 0
SHADOW_FILTERS = tuple(
    f"$aws/things/+/shadow/{middle}{op}" for middle in ("", "name/+/") for op in OPERATIONS
)
SHADOW_TOPIC = re.compile(
    r"^\$aws/things/(?P<thing>[^/]+)/shadow/(?:name/(?P<name>[^/]+)/)?(?P<op>update|get|delete)$"
)


class _ShadowRequest(NamedTuple):  # a tuple: made for every request, on the network thread
    topic: str
    thing: str
    shadow_name: str
    operation: str
    payload: bytes


class ShadowResponder:
    """Takes shadow requests in as they are read and answers them after the read."""

    def __init__(
        self, service: CloudService, shadows: ShadowStore, wills: ExpectedWills | None = None
    ) -> None:
        self.service = service
        self.shadows = shadows
        self.wills = wills if wills is not None else ExpectedWills()  # reported by the plugin
        # requests taken in but not answered yet; only the network thread touches these
        self._requests: deque[_ShadowRequest] = deque()
        self._in_flight: dict[str, int] = {}
        self._deferred_reads = 0

    def register(self) -> None:
        """Subscribe the shadow topics on the network thread."""
        subscriptions = [(f, 1) for f in SHADOW_FILTERS]
        self.service.tap(subscriptions, self._on_message, self._answer_requests)

    # ---- network thread -------------------------------------------------------------------

    def _on_message(self, message: Publish) -> None:
        topic, payload = message.topic, message.payload
        shadow = SHADOW_TOPIC.match(topic)
        if shadow is None:
            return
        if self.wills and self.wills.take(topic, payload):
            log.info("ignored the Last Will on %s, as AWS IoT's shadow service does", topic)
            return
        self._take_request(shadow, topic, payload)

    def _take_request(self, match: re.Match[str], topic: str, payload: bytes) -> None:
        """Count the request in flight, or answer 429 at once when its thing has too many."""
        thing = match["thing"]
        in_flight = self._in_flight.get(thing, 0)
        if in_flight >= MAX_IN_FLIGHT:
            rejected = ShadowStore.rejected(topic, engine.ShadowError.too_many_requests(), payload)
            for reply_topic, body in rejected.messages:  # written after this read
                self.service.publish(reply_topic, body, SHADOW_REPLY_QOS)
            return
        self._in_flight[thing] = in_flight + 1
        self._requests.append(
            _ShadowRequest(topic, thing, match["name"] or "", match["op"], payload)
        )

    def _answer_requests(self) -> None:
        """After each read: answer the requests taken in, oldest first, each written at once.

        While more bytes are waiting, a burst is still coming in: read it all first (up to
        MAX_DEFERRED_READS reads, so a flood cannot hold the answers back for ever)."""
        if not self._requests:
            return
        if self._deferred_reads < MAX_DEFERRED_READS and self.service.data_waiting():
            self._deferred_reads += 1
            return
        self._deferred_reads = 0
        while self._requests:
            request = self._requests.popleft()
            try:
                self._answer(request)
            except Exception:  # never let it reach the link: it would drop the connection
                log.exception("answering the shadow request on %s failed", request.topic)
            finally:
                left = self._in_flight[request.thing] - 1
                if left:
                    self._in_flight[request.thing] = left
                else:
                    del self._in_flight[request.thing]
        self.service.send_now()  # e.g. a 429 of this burst

    def _answer(self, request: _ShadowRequest) -> None:
        try:
            outcome = self.shadows.handle(
                request.operation, request.thing, request.payload, request.shadow_name
            )
        except Exception:  # e.g. the database stayed locked: answer, never leave it hanging
            log.exception("shadow request on %s failed", request.topic)
            outcome = ShadowStore.rejected(
                request.topic, engine.ShadowError.internal(), request.payload
            )
        for reply_topic, body in outcome.messages:
            self.service.publish(reply_topic, body, SHADOW_REPLY_QOS)
        self.service.send_now()  # the PUBACK and every reply in one send, before the next request
