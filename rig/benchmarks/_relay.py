"""A minimal MQTT relay for the shadow benchmark's floor (`mqtt_relay_rtt_ms_p50`).

Run as `python -m rig.benchmarks._relay ENDPOINT_JSON CERT KEY CLIENT_ID IN_TOPIC OUT_TOPIC
READY_FILE`: it connects with the rig's shared client code (DeviceClient: TLS, TCP_NODELAY),
re-publishes every message on IN_TOPIC to OUT_TOPIC (QoS 1) straight from paho's network thread,
writes READY_FILE once subscribed, and runs until killed. A trip through it is two broker
traversals plus the least any paho client in its own process can add: the floor for a trip
through the cloud service.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from rig.broker import BrokerEndpoint
from rig.cloud.pytest_fixtures import DeviceClient


def main(argv: list[str]) -> int:
    endpoint_json, cert, key, client_id, in_topic, out_topic, ready_file = argv
    data = json.loads(Path(endpoint_json).read_text())
    endpoint = BrokerEndpoint(data["host"], data["port"], Path(data["ca_file"]))
    relay = DeviceClient(endpoint, Path(cert), Path(key), client_id)

    def forward(client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        client.publish(out_topic, message.payload, qos=1)

    relay.client.on_message = forward
    relay.connect()
    relay.subscribe(in_topic)
    Path(ready_file).write_text("ready\n")
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
