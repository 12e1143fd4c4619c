"""The rules engine on the cloud's MQTT host: one subscription per distinct FROM filter of the
stored rules (not one `#`: mosquitto's `#` does not match `$aws/…` topics, and rules on
`$aws/events/…` and `$aws/things/…` must fire; MQTT 3.1.1 §4.7.2).

A watcher thread reads the `rules_generation` counter every 200 ms: a rule created, replaced,
enabled, disabled or deleted by any process (the CLI) is in force within that time (R-3). A
filter no rule uses any more stays subscribed until the service restarts; its messages find no
rule. Handlers run on the host's worker thread, in arrival order.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from rig.cloud.core.events import now_ms
from rig.cloud.host.service import CloudService
from rig.cloud.rules.engine import Invoker, Rule, RulesEngine
from rig.cloud.rules.functions import Message
from rig.cloud.rules.store import TopicRules

log = logging.getLogger(__name__)
POLL_S = 0.2


class RulesService:
    def __init__(self, service: CloudService, rules: TopicRules, invoker: Invoker) -> None:
        self.service = service
        self.rules = rules
        self.engine = RulesEngine(self._publish, invoker)
        self._by_filter: dict[str, list[Rule]] = {}
        self._subscribed: set[str] = set()
        self._generation = -1
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    def register(self) -> None:
        """Subscribe to the filters of the rules stored now (before the host starts)."""
        self.reload()

    def start(self) -> None:
        """Follow rule changes (after the host started: new subscriptions wait for SUBACK)."""
        self._watcher = threading.Thread(target=self._watch, name="rules-watch", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)

    def reload(self) -> None:
        generation = self.rules.generation()
        if generation == self._generation:
            return
        by_filter: dict[str, list[Rule]] = {}
        for name, stored, _created in self.rules.rules():
            try:
                rule = Rule.from_stored(name, stored)
            except Exception:  # stored by an older parser: skipped, said once per load
                log.exception("rule %s cannot be loaded", name)
                continue
            by_filter.setdefault(rule.topic_filter, []).append(rule)
        with self._lock:
            self._by_filter = by_filter
            self._generation = generation
        for topic_filter in by_filter:
            if topic_filter not in self._subscribed:
                self._subscribed.add(topic_filter)
                self.service.subscribe(topic_filter, self._handler(topic_filter))

    def _handler(self, topic_filter: str) -> Any:
        def on_message(topic: str, payload: bytes) -> None:
            with self._lock:
                rules = list(self._by_filter.get(topic_filter, ()))
            # the publisher's client id does not reach the cloud over MQTT 3.1.1
            message = Message(topic, None, now_ms(), payload)
            for rule in rules:
                self.engine.apply(rule, message)

        return on_message

    def _publish(self, topic: str, payload: bytes, qos: int) -> None:
        self.service.publish(topic, payload, qos)

    def _watch(self) -> None:
        while not self._stopping.wait(POLL_S):
            try:
                self.reload()
            except Exception:
                log.exception("reloading the topic rules failed")
