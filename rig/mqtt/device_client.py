"""`DeviceClient`: a device on the broker for tests and benchmarks, a paho client with a client
certificate whose received messages go to a queue."""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from rig.mqtt.endpoint import BrokerEndpoint

WAIT_S = 20.0  # generous: CI machines are slow and loaded


def _no_delay(_client: mqtt.Client, _userdata: Any, sock: Any) -> None:
    # paho writes each MQTT packet separately (a PUBACK, then the next PUBLISH): with Nagle on,
    # the second waits for the peer's delayed ACK, about 40 ms per round trip.
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def disable_nagle(client: mqtt.Client) -> None:
    """Set TCP_NODELAY on the client's socket each time it (re)connects."""
    client.on_socket_open = _no_delay


class DeviceClient:
    """A paho MQTT client with a client certificate; received messages go to a queue."""

    def __init__(
        self,
        endpoint: BrokerEndpoint,
        cert_file: Path,
        key_file: Path,
        client_id: str,
        will: tuple[str, bytes] | None = None,
    ) -> None:
        self.client_id = client_id
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.tls_set(str(endpoint.ca_file), str(cert_file), str(key_file))
        if will is not None:
            self.client.will_set(will[0], will[1], qos=1)
        self.client.on_message = lambda _c, _u, message: self.messages.put(message)
        disable_nagle(self.client)
        self._endpoint = endpoint

    def connect(self, timeout: float = WAIT_S) -> DeviceClient:
        self.client.connect(self._endpoint.host, self._endpoint.port, keepalive=30)
        self.client.loop_start()
        deadline = time.monotonic() + timeout
        while not self.client.is_connected():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.client_id} did not connect within {timeout} s")
            time.sleep(0.01)
        return self

    def subscribe(self, topic_filter: str, qos: int = 1, timeout: float = WAIT_S) -> list[int]:
        """Subscribe and wait for the SUBACK; returns the granted codes (128 = refused)."""
        done: queue.Queue[Any] = queue.Queue()
        self.client.on_subscribe = lambda _c, _u, mid, codes, _p: done.put((mid, codes))
        _, mid = self.client.subscribe(topic_filter, qos)
        while True:
            got_mid, codes = done.get(timeout=timeout)
            if got_mid == mid:
                break
        self.client.on_subscribe = None
        return [int(code.value) for code in codes]

    def publish(self, topic: str, payload: bytes | str | dict[str, Any], qos: int = 1) -> None:
        data = json.dumps(payload).encode() if isinstance(payload, dict) else payload
        info = self.client.publish(topic, data, qos=qos)
        if qos:
            info.wait_for_publish(WAIT_S)

    def expect(self, topic: str, timeout: float = WAIT_S) -> dict[str, Any]:
        """The next message on `topic` (JSON-decoded); others seen meanwhile are skipped."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no message on {topic} within {timeout} s; saw {seen}")
            try:
                message = self.messages.get(timeout=remaining)
            except queue.Empty:
                continue
            if message.topic == topic:
                return json.loads(message.payload)
            seen.append(message.topic)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
