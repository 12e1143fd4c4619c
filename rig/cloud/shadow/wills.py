"""The Last Wills the broker is about to publish on shadow topics, as the broker plugin reports
them (rig/broker_plugin/buttonrig_auth.c "WILL", before the broker queues the will), so the
shadow service ignores them (docs/cloud-decisions.md S-27).

Kept by the runtime, not by one shadow service: a will reported while the cloud's services
restart reaches the next one through the cloud's persistent session.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque

SHADOW_TOPIC = re.compile(r"^\$aws/things/[^/]+/shadow/(?:name/[^/]+/)?(?:update|get|delete)$")
WILL_TTL_S = 30.0  # a reported will not seen within this long (nobody routed it) is dropped


class ExpectedWills:
    """Thread-safe: `expect` from the plugin's report thread, `take` from the network thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_topic: dict[str, deque[tuple[bytes, float]]] = {}

    def __bool__(self) -> bool:
        return bool(self._by_topic)  # a cheap look before `take`, without the lock

    def expect(self, topic: str, payload: bytes) -> None:
        if SHADOW_TOPIC.match(topic) is None:
            return  # only the shadow service asks
        with self._lock:
            self._by_topic.setdefault(topic, deque()).append((payload, time.monotonic()))

    def take(self, topic: str, payload: bytes) -> bool:
        """Whether this message is a will reported on its topic: the first one there with its
        payload (a request with the very same bytes that arrives just before the will is taken
        for it: MQTT 3.1.1 does not say who published a message)."""
        now = time.monotonic()
        with self._lock:
            expected = self._by_topic.get(topic)
            if expected is None:
                return False
            while expected and now - expected[0][1] > WILL_TTL_S:
                expected.popleft()
            found = next((i for i, (will, _) in enumerate(expected) if will == payload), None)
            if found is not None:
                del expected[found]
            if not expected:
                del self._by_topic[topic]
            return found is not None
