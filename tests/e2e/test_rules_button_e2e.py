"""The guide's button → Lambda rule (§ Creating a Lambda Rule, TV-22) with the real firmware on
an emulated board: a press, the click message on `iotbutton/<serial>`, the topic rule
`SELECT * FROM 'iotbutton/+'`, the function in its own process, its line in its log."""

from __future__ import annotations

import json
import time

import pytest
from connectivity_kit import WAIT_S, connected
from function_zip import function_zip

from rig import gestures
from rig.cloud.runtime import CloudRuntime
from rig.pytest_plugin.boards import BoardFactory

pytestmark = pytest.mark.e2e

FUNCTION = """
import json

def lambda_handler(event, context):
    print("Received %s message from button ID: %s" % (event["clickType"], event["serialNumber"]))
    print("event " + json.dumps(event, sort_keys=True))
"""


def test_a_press_reaches_the_function_a_rule_names(
    boards: BoardFactory, cloud_runtime: CloudRuntime
) -> None:
    api = cloud_runtime.cloud
    function_arn = api.functions.create_function(
        "IotButtonLambda", "python3.12", "lambda_function.lambda_handler", function_zip(FUNCTION)
    )["FunctionArn"]
    api.create_topic_rule(
        "IotButtonLambdaRule",
        {
            "sql": "SELECT * FROM 'iotbutton/+'",
            "awsIotSqlVersion": "2016-03-23",
            "actions": [{"lambda": {"functionArn": function_arn}}],
        },
    )
    board, setup = connected(boards, cloud_runtime)
    board.press(gestures.single(120))
    click = board.expect("click", WAIT_S)

    expected = f"Received SINGLE message from button ID: {setup.serial}"
    deadline = time.monotonic() + WAIT_S
    lines: list[str] = []
    while time.monotonic() < deadline:
        rows = api.functions.store.log_events("/aws/lambda/IotButtonLambda", 0)
        lines = [row["message"] for row in rows]
        if expected in lines and any(line.startswith("event ") for line in lines):
            break
        time.sleep(0.05)
    assert expected in lines, lines
    event = json.loads(next(line for line in lines if line.startswith("event "))[6:])
    assert event["eventId"] == click["id"] and event["serialNumber"] == setup.serial
    assert event["clickType"] == "SINGLE"
    assert api.functions.events("IotButtonLambda") == []  # ran, not kept
