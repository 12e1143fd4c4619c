"""The guide's "Getting Started" button set-up, replayed with the aws-cli-shaped commands against
a running cloud, then a button click seen by the cloud (spec-core §1.7, TV-01, TV-03)."""

from __future__ import annotations

import json
import queue
from pathlib import Path

from broker_watch import dropped

from rig.cloud.core import arn
from rig.mqtt.device_client import DeviceClient
from rig.pytest_plugin.cli_runner import buttonrig as run
from rig.pytest_plugin.cli_runner import buttonrig_json as run_json

DSN = "G030JF055364XVRB"


def test_getting_started_walkthrough(cloud, tmp_path: Path) -> None:
    home = cloud.home
    seen: queue.Queue[tuple[str, bytes]] = queue.Queue()
    cloud.service.subscribe("iotbutton/+", lambda topic, payload: seen.put((topic, payload)))

    found = run_json(home, "iot", "describe-endpoint", "--endpoint-type", "iot:Data-ATS")
    assert found == {"endpointAddress": "localhost", "port": cloud.endpoint.port}
    run(home, "iot", "create-thing", "--thing-name", "MyIoTButton")
    cert, key = (
        tmp_path / "2a540e2346-certificate.pem.crt",
        tmp_path / "2a540e2346-private.pem.key",
    )
    created = run_json(
        home,
        "iot",
        "create-keys-and-certificate",
        "--set-as-active",
        "--certificate-pem-outfile",
        str(cert),
        "--private-key-outfile",
        str(key),
    )
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": arn.topic_arn(f"iotbutton/{DSN}"),
            },
        ],
    }
    document = tmp_path / "policy.json"
    document.write_text(json.dumps(policy))
    run(
        home,
        "iot",
        "create-policy",
        "--policy-name",
        "MyIoTButtonPolicy",
        "--policy-document",
        f"file://{document}",
    )
    run(
        home,
        "iot",
        "attach-principal-policy",
        "--policy-name",
        "MyIoTButtonPolicy",
        "--principal",
        created["certificateArn"],
    )
    run(
        home,
        "iot",
        "attach-thing-principal",
        "--thing-name",
        "MyIoTButton",
        "--principal",
        created["certificateArn"],
    )

    assert cloud.endpoint is not None
    button = DeviceClient(cloud.endpoint, cert, key, "MyIoTButton").connect()
    gone = dropped(button)
    # a publish the policy refuses: no PUBACK, the connection is closed (AWS IoT)
    button.client.publish(f"iotbutton/{DSN}-not-mine", json.dumps({"forged": True}), qos=1)
    assert gone.wait(20), "a refused publish left the connection open"
    button.close()
    button = DeviceClient(cloud.endpoint, cert, key, "MyIoTButton").connect()
    try:
        message = {"serialNumber": DSN, "batteryVoltage": "1666mV", "clickType": "SINGLE"}
        button.publish(f"iotbutton/{DSN}", message)
        topic, payload = seen.get(timeout=20)
        assert topic == f"iotbutton/{DSN}", f"the cloud saw {topic} first"
        assert json.loads(payload) == message
    finally:
        button.close()


def test_a_cli_shadow_update_reaches_the_device_as_a_delta(cloud, device, tmp_path: Path) -> None:
    thing = "walk-delta-1"
    button = device(thing)
    base = f"$aws/things/{thing}/shadow"
    button.subscribe(f"{base}/update/delta")
    out = tmp_path / "out.json"
    run(
        cloud.home,
        "iot-data",
        "update-thing-shadow",
        "--thing-name",
        thing,
        "--payload",
        '{"state": {"desired": {"double_ms": 300}}}',
        str(out),
    )
    delta = button.expect(f"{base}/update/delta")
    assert delta["state"] == {"double_ms": 300}
    assert delta["version"] == json.loads(out.read_text())["version"] == 1
