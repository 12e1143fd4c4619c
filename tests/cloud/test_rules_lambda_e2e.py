"""Rules engine and local Lambda functions end to end: a device's publish (paho, mTLS, the real
broker) → a topic rule made with the CLI → republish / a function in its own process → its log
lines through `buttonrig logs tail`; and failures that change nothing else."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from function_zip import function_zip
from raw_mqtt import raw_connect

from rig.cloud.api import Cloud
from rig.cloud.core import arn
from rig.cloud.runtime import CloudRuntime
from rig.mqtt.device_client import DeviceClient
from rig.mqtt.endpoint import ClientIdentity
from rig.pytest_plugin.cli_runner import buttonrig as run

ROLE_ARN = "arn:aws:iam::123456789012:role/aws_iot_republish"
TUTORIAL_FUNCTION = """
    import logging
    logger = logging.getLogger()
    logger.setLevel(logging.INFO)

    def lambda_handler(event, context):
        message = "Received %s message from button ID: %s" % (
            event["clickType"], event["serialNumber"])
        print(message)
        logger.info("request %s of %s", context.aws_request_id, context.function_name)
        if event.get("clickType") == "LONG":
            raise RuntimeError("long clicks are not handled")
        if event.get("clickType") == "DOUBLE":
            import time
            time.sleep(30)
        if event.get("crash"):
            import os
            os._exit(1)
        return message
"""


def _watcher(cloud: CloudRuntime, directory: Path, name: str, prefix: str) -> DeviceClient:
    """A client that may subscribe to and receive `prefix/#`."""
    created = cloud.cloud.create_keys_and_certificate(True, common_name=name)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "iot:Connect", "Resource": arn.client_arn(name)},
            {
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": arn.topicfilter_arn(f"{prefix}/*"),
            },
            {"Effect": "Allow", "Action": "iot:Receive", "Resource": arn.topic_arn(f"{prefix}/*")},
        ],
    }
    cloud.cloud.create_policy(f"{name}-watch", json.dumps(policy))
    cloud.cloud.attach_policy(f"{name}-watch", created["certificateArn"])
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    cert.write_text(created["certificatePem"])
    key.write_text(created["keyPair"]["PrivateKey"])
    assert cloud.endpoint is not None
    watcher = DeviceClient(cloud.endpoint, cert, key, name).connect()
    watcher.subscribe(f"{prefix}/#")
    return watcher


def _click(serial: str, click_type: str = "SINGLE") -> dict[str, Any]:
    return {"serialNumber": serial, "batteryVoltage": "1666mV", "clickType": click_type}


def _wait(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _create_function(home: Path, tmp_path: Path, name: str, source: str, timeout: int) -> str:
    archive = tmp_path / f"{name}.zip"
    archive.write_bytes(function_zip(source))
    created = json.loads(
        run(
            home,
            "lambda",
            "create-function",
            "--function-name",
            name,
            "--runtime",
            "python3.12",
            "--handler",
            "lambda_function.lambda_handler",
            "--zip-file",
            f"fileb://{archive}",
            "--timeout",
            str(timeout),
            "--role",
            "arn:aws:iam::123456789012:role/lambda-role",
        ).stdout
    )
    return created["FunctionArn"]


def _create_rule(home: Path, tmp_path: Path, name: str, payload: dict[str, Any]) -> None:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(payload))
    run(
        home,
        "iot",
        "create-topic-rule",
        "--rule-name",
        name,
        "--topic-rule-payload",
        f"file://{path}",
    )


def _log(home: Path, function: str) -> str:
    return run(home, "logs", "tail", f"/aws/lambda/{function}").stdout


def test_a_button_click_is_routed_by_a_rule_to_republish_and_a_lambda(
    cloud: CloudRuntime, device: Callable[..., DeviceClient], tmp_path: Path
) -> None:
    home = cloud.home
    function_arn = _create_function(home, tmp_path, "ButtonHandler", TUTORIAL_FUNCTION, 3)
    # the guide's Lambda rule (SELECT * FROM 'iotbutton/+'), with a republish beside it
    _create_rule(
        home,
        tmp_path,
        "ButtonRule",
        {
            "sql": "SELECT * FROM 'iotbutton/+'",
            "awsIotSqlVersion": "2016-03-23",
            "actions": [
                {"lambda": {"functionArn": function_arn}},
                {
                    "republish": {
                        "topic": "clicks/${topic(2)}/${clickType}",
                        "roleArn": "arn:aws:iam::123456789012:role/aws_iot_republish",
                    }
                },
            ],
        },
    )
    watcher = _watcher(cloud, tmp_path, "rules-watch-1", "clicks")
    try:
        button = device("G030JF055364XVRB")
        time.sleep(0.5)  # the rule's subscription (the engine reloads every 200 ms)
        button.publish("iotbutton/G030JF055364XVRB", _click("G030JF055364XVRB"))
        republished = watcher.expect("clicks/G030JF055364XVRB/SINGLE")
        assert republished == _click("G030JF055364XVRB")
        line = "Received SINGLE message from button ID: G030JF055364XVRB"
        output = _wait(
            lambda: (text := _log(home, "ButtonHandler")) and line in text and text, line
        )
        assert "START RequestId:" in output and "REPORT RequestId:" in output
        assert "of ButtonHandler" in output  # the context's function_name, logged at INFO
        assert cloud.cloud.functions.events("ButtonHandler") == []  # ran: not kept any more
    finally:
        watcher.close()


def test_failing_functions_keep_their_events_and_the_cloud_goes_on(
    cloud: CloudRuntime, device: Callable[..., DeviceClient], tmp_path: Path
) -> None:
    home = cloud.home
    function_arn = _create_function(home, tmp_path, "Flaky", TUTORIAL_FUNCTION, 1)
    serial = "G030JF0FAILING01"
    _create_rule(
        home,
        tmp_path,
        "FlakyRule",
        {
            "sql": f"SELECT * FROM 'iotbutton/{serial}'",
            "actions": [{"lambda": {"functionArn": function_arn}}],
        },
    )
    button = device(serial)
    time.sleep(0.5)
    button.publish(f"iotbutton/{serial}", _click(serial, "LONG"))  # raises
    button.publish(f"iotbutton/{serial}", _click(serial, "DOUBLE"))  # sleeps past its timeout
    button.publish(f"iotbutton/{serial}", {**_click(serial), "crash": True})  # its process dies
    button.publish(f"iotbutton/{serial}", _click(serial, "SINGLE"))  # fine

    def settled() -> list[dict[str, Any]] | None:
        events = cloud.cloud.functions.events("Flaky")
        return events if len(events) == 3 and all(e["state"] == "failed" for e in events) else None

    failed = _wait(settled, "the failing events to be kept as failed", timeout=40)
    assert [e["event"]["clickType"] for e in failed] == ["LONG", "DOUBLE", "SINGLE"]
    assert all(e["attempts"] == 3 for e in failed)
    assert "RuntimeError" in failed[0]["lastError"]
    assert "Task timed out after 1.00 seconds" in failed[1]["lastError"]
    assert "Runtime exited with error: exit status 1" in failed[2]["lastError"]
    assert failed[2]["event"]["crash"] is True
    metrics = cloud.cloud.functions.metrics("Flaky")
    assert metrics == {"Invocations": 10, "Errors": 9, "Timeouts": 3}
    output = _log(home, "Flaky")
    assert "Received SINGLE message from button ID: G030JF0FAILING01" in output
    assert "[ERROR] RuntimeError: long clicks are not handled" in output
    # the rest of the cloud went on: the shadow still answers
    assert cloud.cloud.update_thing_shadow(serial, b'{"state":{"reported":{"ok":1}}}')


def test_an_unknown_function_in_a_rule_goes_to_its_error_action(
    cloud: CloudRuntime, device: Callable[..., DeviceClient], tmp_path: Path
) -> None:
    serial = "G030JF0NOFUNC001"
    missing = "arn:aws:lambda:us-east-1:123456789012:function:NoSuchFunction"
    _create_rule(
        cloud.home,
        tmp_path,
        "MissingFunctionRule",
        {
            "sql": f"SELECT * FROM 'iotbutton/{serial}'",
            "actions": [{"lambda": {"functionArn": missing}}],
            "errorAction": {
                "republish": {
                    "topic": "errors/${topic(2)}",
                    "roleArn": "arn:aws:iam::123456789012:role/r",
                }
            },
        },
    )
    watcher = _watcher(cloud, tmp_path, "rules-watch-2", "errors")
    try:
        button = device(serial)
        time.sleep(0.5)
        payload = _click(serial)
        button.publish(f"iotbutton/{serial}", payload)
        report = watcher.expect(f"errors/{serial}")
        assert report["ruleName"] == "MissingFunctionRule"
        assert report["topic"] == f"iotbutton/{serial}"
        assert (
            json.loads(__import__("base64").b64decode(report["base64OriginalPayload"])) == payload
        )
        (failure,) = report["failures"]
        assert failure["failedAction"] == "LambdaAction"
        assert failure["failedResource"] == missing
        assert "Function not found" in failure["errorMessage"]
    finally:
        watcher.close()


def test_the_presence_pattern_a_rule_on_lifecycle_events(
    cloud: CloudRuntime, device: Callable[..., DeviceClient], tmp_path: Path
) -> None:
    _create_rule(
        cloud.home,
        tmp_path,
        "PresenceRule",
        {
            "sql": "SELECT clientId, eventType, topic(5) AS who FROM '$aws/events/presence/connected/+'",
            "actions": [
                {
                    "republish": {
                        "topic": "presence/${topic(5)}",
                        "roleArn": "arn:aws:iam::123456789012:role/r",
                    }
                }
            ],
        },
    )
    watcher = _watcher(cloud, tmp_path, "rules-watch-3", "presence")
    try:
        time.sleep(0.5)
        device("presence-rule-bulb")
        seen = watcher.expect("presence/presence-rule-bulb")
        assert seen == {
            "clientId": "presence-rule-bulb",
            "eventType": "connected",
            "who": "presence-rule-bulb",
        }
    finally:
        watcher.close()


def test_a_disabled_rule_does_not_fire(
    cloud: CloudRuntime, device: Callable[..., DeviceClient], tmp_path: Path
) -> None:
    serial = "G030JF0DISABLED1"
    _create_rule(
        cloud.home,
        tmp_path,
        "DisabledRule",
        {
            "sql": f"SELECT * FROM 'iotbutton/{serial}'",
            "actions": [
                {
                    "republish": {
                        "topic": "toggled/${topic(2)}",
                        "roleArn": "arn:aws:iam::123456789012:role/r",
                    }
                }
            ],
        },
    )
    run(cloud.home, "iot", "disable-topic-rule", "--rule-name", "DisabledRule")
    watcher = _watcher(cloud, tmp_path, "rules-watch-4", "toggled")
    try:
        button = device(serial)
        time.sleep(0.5)
        button.publish(f"iotbutton/{serial}", _click(serial))
        time.sleep(0.5)
        run(cloud.home, "iot", "enable-topic-rule", "--rule-name", "DisabledRule")
        time.sleep(0.5)
        button.publish(f"iotbutton/{serial}", _click(serial, "DOUBLE"))
        assert watcher.expect(f"toggled/{serial}")["clickType"] == "DOUBLE"  # not the first
    finally:
        watcher.close()


def test_the_guides_lwt_republish_rule_reaches_the_shadow(
    cloud: CloudRuntime, device: Callable[..., DeviceClient], tmp_path: Path
) -> None:
    """§ Detecting a Thing Is Connected: an LWT on a plain topic, republished by a rule to the
    reserved shadow topic (`$$aws/…`, the guide's escaped dollar)."""
    thing = "lwt-rule-bulb"
    _create_rule(
        cloud.home,
        tmp_path,
        "LwtRule",
        {
            "sql": "SELECT * FROM 'my/things/+/update'",
            "description": "Turn my/things/ into $aws/things/",
            "actions": [
                {
                    "republish": {
                        "topic": "$$aws/things/${topic(3)}/shadow/update",
                        "roleArn": "arn:aws:iam::123456789012:role/aws_iot_republish",
                    }
                }
            ],
        },
    )
    bulb = device(thing)
    certificate_arn = cloud.cloud.list_thing_principals(thing)["principals"][0]
    statement = {
        "Effect": "Allow",
        "Action": "iot:Publish",
        "Resource": arn.topic_arn(f"my/things/{thing}/update"),
    }
    cloud.cloud.create_policy(
        "LwtRulePlainTopic", json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    )
    cloud.cloud.attach_policy("LwtRulePlainTopic", certificate_arn)
    bulb.close()
    time.sleep(0.5)
    identity = ClientIdentity(tmp_path / f"{thing}.crt.pem", tmp_path / f"{thing}.key.pem")
    assert cloud.endpoint is not None
    will = json.dumps({"state": {"reported": {"connected": "false"}}}).encode()
    raw_connect(cloud.endpoint, identity, (f"my/things/{thing}/update", will)).close()

    def reported() -> dict[str, Any] | None:
        try:
            state = json.loads(cloud.cloud.get_thing_shadow(thing))["state"]["reported"]
        except Exception:
            return None
        return state if state.get("connected") == "false" else None

    assert _wait(reported, "the LWT in the shadow") == {"connected": "false"}


def test_an_event_kept_while_no_cloud_runs_is_run_when_it_starts(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    offline = Cloud(home)
    try:
        arn_of = offline.functions.create_function(
            "Durable",
            "python3.12",
            "lambda_function.lambda_handler",
            function_zip(TUTORIAL_FUNCTION),
        )["FunctionArn"]
        offline.functions.invoke_event(arn_of, _click("G030JF0DURABLE01"))
        assert [e["state"] for e in offline.functions.events("Durable")] == ["pending"]
    finally:
        offline.close()
    runtime = CloudRuntime(home)
    runtime.start()
    try:
        _wait(lambda: runtime.cloud.functions.events("Durable") == [], "the kept event to run")
        line = "Received SINGLE message from button ID: G030JF0DURABLE01"
        assert line in _log(home, "Durable")
    finally:
        runtime.stop()
        runtime.cloud.close()


def test_a_rule_on_the_shadows_accepted_topic_tv20(
    cloud: CloudRuntime, device: Callable[..., DeviceClient], tmp_path: Path
) -> None:
    """TV-20 (§ Creating an Amazon SNS Rule): `topic(3)` of a shadow reply the cloud itself
    publishes; republished here instead of SNS."""
    _create_rule(
        cloud.home,
        tmp_path,
        "ShadowAccepted",
        {
            "sql": "SELECT *, topic(3) as thing FROM '$aws/things/+/shadow/update/accepted'",
            "actions": [{"republish": {"topic": "shadowacc/${topic(3)}", "roleArn": ROLE_ARN}}],
        },
    )
    watcher = _watcher(cloud, tmp_path, "rules-watch-5", "shadowacc")
    try:
        thing = "MySNSThing"
        bulb = device(thing)
        time.sleep(0.5)
        bulb.publish(f"$aws/things/{thing}/shadow/update", {"state": {"reported": {"on": 1}}})
        seen = watcher.expect(f"shadowacc/{thing}")
        assert seen["thing"] == thing and seen["state"] == {"reported": {"on": 1}}
    finally:
        watcher.close()
