"""The workshop's JITR section (spec-1click-workshop.md §5.7, TV-24) as its commands run, in
order, with `buttonrig` in place of `aws`: JITP removed from the CA, auto-registration enabled,
`lambda create-function --region …`, `get-function | jq .Configuration.FunctionArn`, the
workshop's topic rule, `get-topic-rule | jq .ruleArn`, `sts get-caller-identity | jq .Account`,
`lambda add-permission`, `lambda get-policy`; then the device (deviceJITRCertAndCACert.crt)
connects: registered PENDING_ACTIVATION and closed, the rule runs the function, the device is
let in and `list-things` shows `jitr-<certificateId>`. The runtime is python3.12: Lambda no
longer creates python2.7 functions, and the rig refuses it as Lambda does."""

from __future__ import annotations

import json
import time
from pathlib import Path

from jitr_function import jitr_zip
from own_ca import OwnCa
from workshop_jitp import register_ca

from rig.cloud.ca_registration import pem
from rig.cloud.runtime import CloudRuntime
from rig.mqtt.handshake import connection_problem
from rig.pytest_plugin.cli_runner import buttonrig as run
from rig.pytest_plugin.cli_runner import buttonrig_json as run_json

WAIT_S = 20.0
AWS_REGION = "us-east-1"
ARN_LAMBDA_ROLE = "arn:aws:iam::123456789012:role/IoTDMWSLambdaRole"


def test_workshop_jitr_section_in_order(cloud: CloudRuntime, tmp_path: Path) -> None:
    home = cloud.home
    # the CA of the JITP section, with its template
    ca = OwnCa()
    ca_id = register_ca(home, tmp_path, ca)
    template = {"Resources": {"certificate": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": "x"}}}}  # fmt: skip
    config = {"templateBody": json.dumps(template), "roleArn": ARN_LAMBDA_ROLE}
    run(home, "iot", "update-ca-certificate", "--certificate-id", ca_id, "--no-remove-auto-registration", "--new-auto-registration-status", "ENABLE", "--registration-config", json.dumps(config))  # fmt: skip
    # ---- §5.7 ----
    run(home, "iot", "update-ca-certificate", "--certificate-id", ca_id, "--remove-auto-registration", "--new-auto-registration-status", "DISABLE")  # fmt: skip
    described = run_json(home, "iot", "describe-ca-certificate", "--certificate-id", ca_id)
    assert "registrationConfig" not in described
    run(home, "iot", "update-ca-certificate", "--certificate-id", ca_id, "--new-auto-registration-status", "ENABLE")  # fmt: skip
    described = run_json(home, "iot", "describe-ca-certificate", "--certificate-id", ca_id)
    assert described["certificateDescription"]["autoRegistrationStatus"] == "ENABLE"
    (tmp_path / "lambda_function.zip").write_bytes(jitr_zip())
    run(home, "lambda", "create-function", "--region", AWS_REGION, "--function-name", "jitr", "--zip-file", f"fileb://{tmp_path / 'lambda_function.zip'}", "--role", ARN_LAMBDA_ROLE, "--handler", "lambda_function.lambda_handler", "--runtime", "python3.12", "--timeout", "30", "--memory-size", "128")  # fmt: skip
    functions = run_json(home, "lambda", "list-functions")["Functions"]
    assert [f["FunctionName"] for f in functions] == ["jitr"]
    arn_lambda = run_json(home, "lambda", "get-function", "--function-name", "jitr")[
        "Configuration"
    ]["FunctionArn"]
    payload = (
        '{\n            "sql": "SELECT * FROM \'$aws/events/certificates/registered/#\' WHERE'
        ' certificateStatus = \\"PENDING_ACTIVATION\\"",\n            "description": "Rule for'
        ' JITR",\n            "actions": [\n\t\t            {\n\t\t                "lambda": {\n'
        f'\t\t                    "functionArn": "{arn_lambda}"\n\t\t                }}\n'
        "\t\t            }\n\t\t        ]\n\t\t     }"
    )
    run(home, "iot", "create-topic-rule", "--rule-name", "JITRRule", "--topic-rule-payload", payload)  # fmt: skip
    account_id = run_json(home, "sts", "get-caller-identity")["Account"]
    arn_topic_rule = run_json(home, "iot", "get-topic-rule", "--rule-name", "JITRRule")["ruleArn"]
    run(home, "lambda", "add-permission", "--function-name", "jitr", "--region", AWS_REGION, "--principal", "iot.amazonaws.com", "--source-arn", arn_topic_rule, "--source-account", account_id, "--statement-id", "Id-123", "--action", "lambda:InvokeFunction")  # fmt: skip
    policy = json.loads(
        run_json(home, "lambda", "get-policy", "--function-name", "jitr")["Policy"]
    )
    assert [s["Sid"] for s in policy["Statement"]] == ["Id-123"]
    # the device: deviceJITRCert, "in the same way you did for JITP"
    device = ca.device("deviceJITRCert")
    identity = device.identity(tmp_path, "deviceJITRCertAndCACert")
    assert cloud.endpoint is not None
    time.sleep(0.5)  # the rule's subscription
    first = connection_problem(
        cloud.endpoint, identity, timeout=WAIT_S, client_id="deviceJITRCert"
    )
    assert first is not None  # auto-registered, the client disconnected
    deadline = time.monotonic() + WAIT_S
    while connection_problem(cloud.endpoint, identity, timeout=WAIT_S, client_id="deviceJITRCert"):
        assert time.monotonic() < deadline, "the function never let the device in"
        time.sleep(0.2)
    certificate_id = pem.id_of(pem.load(device.certificate_pem, "certificate"))
    things = [t["thingName"] for t in run_json(home, "iot", "list-things")["things"]]
    assert f"jitr-{certificate_id}" in things
