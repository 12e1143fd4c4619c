"""A minimal MQTT relay for the shadow benchmark's floor (`mqtt_relay_rtt_ms_p50`).

Run as `python -m rig.benchmarks._relay ENDPOINT_JSON CERT KEY CLIENT_ID IN_TOPIC OUT_TOPIC
READY_FILE`: it connects with the cloud service's own MQTT client (rig/mqtt/link.py),
re-publishes every message on IN_TOPIC to OUT_TOPIC at QoS 0 (as the service publishes its shadow
replies) straight from the link's network thread, writes READY_FILE once subscribed, and runs
until killed. A trip through it is two broker traversals plus the least the service's client in
its own process can add: the floor for a trip through the cloud service.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from rig.mqtt.endpoint import BrokerEndpoint, ClientIdentity
from rig.mqtt.link import MqttLink
from rig.mqtt.packets import Publish

WAIT_S = 20.0


def main(argv: list[str]) -> int:
    endpoint_json, cert, key, client_id, in_topic, out_topic, ready_file = argv
    data = json.loads(Path(endpoint_json).read_text())
    endpoint = BrokerEndpoint(data["host"], data["port"], Path(data["ca_file"]))

    def forward(message: Publish) -> None:
        relay.publish(out_topic, message.payload, 0)

    relay = MqttLink(
        endpoint, ClientIdentity(Path(cert), Path(key)), client_id, on_publish=forward
    )
    relay.subscribe(in_topic, 1)  # sent with the connection, like the service's subscriptions
    relay.start()
    if not relay.connected.wait(WAIT_S):
        print(f"the relay could not connect within {WAIT_S:.0f} s", file=sys.stderr)
        return 1
    Path(ready_file).write_text("ready\n")
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
