"""The workshop's JITR exercise with its own rule and function: a device certificate from a
registered CA connects, is registered PENDING_ACTIVATION, the registered event on
`$aws/events/certificates/registered/<caId>` fires the workshop's rule (`WHERE
certificateStatus = "PENDING_ACTIVATION"`, a double-quoted string), whose local Lambda function
does the workshop's A.4 steps (thing jitr-<id>, policy, ACTIVE, attachments) through the cloud's
Python API; the device's next connection is let in."""

from __future__ import annotations

import json
import time
from pathlib import Path

from jitr_function import jitr_zip
from own_ca import OwnCa

from rig.cloud.runtime import CloudRuntime
from rig.mqtt.handshake import connection_problem

WAIT_S = 20.0


def test_the_workshops_jitr_rule_and_function_let_the_device_in(
    cloud: CloudRuntime, tmp_path: Path
) -> None:
    api = cloud.cloud
    function_arn = api.functions.create_function(
        "jitr", "python3.12", "lambda_function.lambda_handler", jitr_zip(), timeout=30
    )["FunctionArn"]
    api.create_topic_rule(
        "JITRRule",
        json.dumps(
            {
                "sql": "SELECT * FROM '$aws/events/certificates/registered/#'"
                ' WHERE certificateStatus = "PENDING_ACTIVATION"',
                "description": "Rule for JITR",
                "actions": [{"lambda": {"functionArn": function_arn}}],
            }
        ),
    )
    ca = OwnCa("JITR rule CA")
    code = api.get_registration_code()["registrationCode"]
    api.register_ca_certificate(
        ca.pem,
        ca.verification_certificate(code),
        set_as_active=True,
        allow_auto_registration=True,
    )
    device = ca.device("deviceJITRCert")
    identity = device.identity(tmp_path, "deviceJITRCertAndCACert")
    assert cloud.endpoint is not None
    time.sleep(0.5)  # the rule's subscription
    first = connection_problem(cloud.endpoint, identity, timeout=WAIT_S, client_id="jitr-dev")
    assert first is not None and "CONNACK code 5" in first  # registered, PENDING_ACTIVATION

    deadline = time.monotonic() + WAIT_S
    while (
        problem := connection_problem(
            cloud.endpoint, identity, timeout=WAIT_S, client_id="jitr-dev"
        )
    ) is not None:
        assert time.monotonic() < deadline, f"the device was never let in: {problem}"
        time.sleep(0.2)

    def log_lines() -> list[str]:
        return [r["message"] for r in api.functions.store.log_events("/aws/lambda/jitr", 0)]

    # the device may be let in just before the function's last line runs
    deadline = time.monotonic() + WAIT_S
    while not any(line.startswith("activated ") for line in log_lines()):
        assert time.monotonic() < deadline, log_lines()
        time.sleep(0.05)
    things = [t["thingName"] for t in api.list_things()["things"]]
    assert any(name.startswith("jitr-") for name in things)
    assert all(e["state"] != "failed" for e in api.functions.events("jitr"))
