"""iot-data Publish (the AWS IoT API reference's Publish; the guide's "HTTPS" protocol for
devices and apps), mixed into the `Cloud` facade (rig/cloud/api.py).

The message is written to the database outbox in one transaction, and the running cloud's MQTT
host publishes it (rig/cloud/host/service.py), so subscribers and the cloud's own services (the
clicks on `iotbutton/<serial>`) get it as any other message. Ours (docs/cloud-decisions.md H-7):
the outbox publishes at QoS 1 whatever `qos` asked (0 or 1 accepted), reserved `$` topics and
retained messages are refused (the cloud's own client may publish where no caller may, and the
rig's broker refuses retained messages from every client), and the MQTT 5 members are not taken.
"""

from __future__ import annotations

from typing import Any

from rig.cloud.core.control_plane import ControlPlane
from rig.cloud.core.errors import InvalidRequestException, RequestEntityTooLargeException
from rig.cloud.core.events import now_ms

MAX_PAYLOAD_BYTES = 128 * 1024  # AWS IoT's message size limit, the broker's too
MAX_TOPIC_BYTES = 256  # AWS IoT quotas: "Topic size"
MAX_TOPIC_SLASHES = 7  # AWS IoT quotas: "Maximum number of slashes in topic"


def topic_problem(topic: str) -> str | None:
    encoded = topic.encode()
    if not topic:
        return "topic must not be empty"
    if len(encoded) > MAX_TOPIC_BYTES:
        return f"topic is longer than {MAX_TOPIC_BYTES} bytes"
    if any(c in topic for c in "+#\x00"):
        return "topic must not contain the wildcards + or # (or NUL)"
    if topic.startswith("$"):
        return "the reference cloud does not take Publish to a reserved $ topic (H-7)"
    if topic.count("/") > MAX_TOPIC_SLASHES:
        return f"topic has more than {MAX_TOPIC_SLASHES} forward slashes"
    return None


class MessagesApi(ControlPlane):
    def publish(
        self, topic: str, qos: int | None = None, retain: bool | None = None, payload: bytes = b""
    ) -> dict[str, Any]:
        if problem := topic_problem(topic):
            raise InvalidRequestException(problem)
        if qos not in (None, 0, 1):
            raise InvalidRequestException(f"qos must be 0 or 1, got {qos}")
        if retain:
            raise InvalidRequestException(
                "the reference cloud does not take retained messages (its broker refuses them)"
            )
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise RequestEntityTooLargeException(
                f"payload is {len(payload)} bytes; at most {MAX_PAYLOAD_BYTES}"
            )
        with self.store.write() as db:
            db.execute(
                "INSERT INTO outbox (topic, payload, created_ms) VALUES (?, ?, ?)",
                (topic, payload, now_ms()),
            )
        return {}
