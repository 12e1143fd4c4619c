"""The cloud's own subscriptions lose nothing: a click the broker acknowledged to a device while
the cloud's MQTT client was away (restarted, the broker staying up) reaches the click log.

AWS's rules engine never misses a message; the reference cloud's client keeps a persistent
session (clean session off, QoS 1 subscriptions, a stable client id) so the broker holds what
arrives for it while it is away and hands it over when it is back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

from rig.broker import MosquittoBroker
from rig.cloud.clicks.store import ClickLog
from rig.cloud.runtime import CloudRuntime
from rig.mqtt.device_client import DeviceClient
from rig.pytest_plugin.cloud import DeviceFactory

WAIT_S = 30.0


def click_message(serial: str, click_type: str = "SINGLE") -> dict[str, str]:
    return {
        "serialNumber": serial,
        "batteryVoltage": "3000mV",
        "clickType": click_type,
        "reportedTime": "2026-01-01T00:00:00.000Z",
        "eventId": uuid.uuid4().hex[:16],
    }


def test_clicks_acknowledged_while_the_cloud_service_restarts_reach_the_click_log(
    cloud_runtime: CloudRuntime, device: Callable[..., DeviceClient]
) -> None:
    serial = "G030RESTART0001"
    board = device(serial)
    clicks = ClickLog(cloud_runtime.cloud.store)
    first = click_message(serial)
    board.publish(f"iotbutton/{serial}", json.dumps(first))
    clicks.wait_for_ids(serial, [first["eventId"]], WAIT_S)

    meanwhile: list[str] = []

    def press_while_down() -> None:
        for _ in range(5):
            message = click_message(serial)
            board.publish(f"iotbutton/{serial}", json.dumps(message))  # returns on the PUBACK
            meanwhile.append(message["eventId"])

    cloud_runtime.restart_service(while_down=press_while_down)
    got = clicks.wait_for_ids(serial, meanwhile, WAIT_S)
    assert sorted(c.event_id for c in got) == sorted([first["eventId"], *meanwhile])

    after = click_message(serial)
    board.publish(f"iotbutton/{serial}", json.dumps(after))
    clicks.wait_for_ids(serial, [after["eventId"]], WAIT_S)


def test_clicks_the_restarted_broker_acknowledged_before_the_cloud_service_was_back_reach_the_log(
    cloud_runtime: CloudRuntime, device: DeviceFactory
) -> None:
    """The broker stops and starts (as in an outage) while the cloud service is away too: the
    service's session, and the clicks waiting in it, survive the broker's restart."""
    serial = "G030RESTART0002"
    board = device(serial)
    cert, key = device.directory / f"{serial}.crt.pem", device.directory / f"{serial}.key.pem"
    broker = cloud_runtime.broker
    endpoint = cloud_runtime.endpoint
    assert isinstance(broker, MosquittoBroker) and endpoint is not None
    clicks = ClickLog(cloud_runtime.cloud.store)
    meanwhile: list[str] = []

    def broker_outage_meanwhile() -> None:
        board.close()
        broker.stop()
        broker.start(port=endpoint.port)
        again = DeviceClient(endpoint, cert, key, serial).connect()
        try:
            for _ in range(3):
                message = click_message(serial)
                again.publish(f"iotbutton/{serial}", json.dumps(message))  # on the PUBACK
                meanwhile.append(message["eventId"])
        finally:
            again.close()

    cloud_runtime.restart_service(while_down=broker_outage_meanwhile)
    clicks.wait_for_ids(serial, meanwhile, WAIT_S)
