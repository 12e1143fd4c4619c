"""The workshop's thing-groups section (spec-1click-workshop.md §5.10, TV-25) with `buttonrig` in
place of `aws` and a paho client in place of `mosquitto_pub`: SmartBuilding_Policy (Connect on
`client/${iot:ClientId}`, Publish on `topic/telemetry/building/one/${iot:ClientId}`) attached to
the group building-one, not to the certificate; group-member publishes to its own topic (it
arrives) and to `…/group-member_foo` (it does not)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from rig.cloud.core import arn
from rig.cloud.runtime import temporary_cloud
from rig.mqtt.device_client import DeviceClient
from rig.pytest_plugin.cli_runner import buttonrig as run
from rig.pytest_plugin.cli_runner import buttonrig_json as run_json

REGION, ACCOUNT_ID = arn.REGION, arn.ACCOUNT
SMART_BUILDING_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["iot:Connect"],
            "Resource": [f"arn:aws:iot:{REGION}:{ACCOUNT_ID}:client/${{iot:ClientId}}"],
        },
        {
            "Effect": "Allow",
            "Action": ["iot:Publish"],
            "Resource": [
                f"arn:aws:iot:{REGION}:{ACCOUNT_ID}:topic/telemetry/building/one/${{iot:ClientId}}"
            ],
        },
    ],
}
ALLOW_ALL = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action": "iot:*","Resource":"*"}]}'
)


def _listener(home: Path, endpoint, tmp_path: Path) -> DeviceClient:
    """The console's subscription to telemetry/building/one/#."""
    run(home, "iot", "create-policy", "--policy-name", "console", "--policy-document", ALLOW_ALL)
    created = run_json(home, "iot", "create-keys-and-certificate", "--set-as-active", "--certificate-pem-outfile", str(tmp_path / "console.crt"), "--private-key-outfile", str(tmp_path / "console.key"))  # fmt: skip
    run(home, "iot", "attach-policy", "--policy-name", "console", "--target", created["certificateArn"])  # fmt: skip
    listener = DeviceClient(
        endpoint, tmp_path / "console.crt", tmp_path / "console.key", "console"
    )
    listener.connect()
    assert listener.subscribe("telemetry/building/one/#") == [1]
    return listener


def test_workshop_thing_group_policy_section(tmp_path: Path) -> None:
    with temporary_cloud() as cloud:
        home = cloud.home
        group = run_json(home, "iot", "create-thing-group", "--thing-group-name", "building-one")
        group_arn = group["thingGroupArn"]
        run(home, "iot", "create-policy", "--policy-name", "SmartBuilding_Policy", "--policy-document", json.dumps(SMART_BUILDING_POLICY))  # fmt: skip
        run(home, "iot", "attach-policy", "--target", group_arn, "--policy-name", "SmartBuilding_Policy")  # fmt: skip
        attached = run_json(home, "iot", "list-attached-policies", "--target", group_arn)
        assert [p["policyName"] for p in attached["policies"]] == ["SmartBuilding_Policy"]
        # a thing, key and certificate; "DO NOT attach a policy to the device certificate"
        thing = "group-member"
        run(home, "iot", "create-thing", "--thing-name", thing)
        created = run_json(home, "iot", "create-keys-and-certificate", "--set-as-active", "--public-key-outfile", str(tmp_path / f"{thing}.public.key"), "--private-key-outfile", str(tmp_path / f"{thing}.private.key"), "--certificate-pem-outfile", str(tmp_path / f"{thing}.certificate.pem"))  # fmt: skip
        run(home, "iot", "attach-thing-principal", "--thing-name", thing, "--principal", created["certificateArn"])  # fmt: skip
        run(home, "iot", "add-thing-to-thing-group", "--thing-name", thing, "--thing-group-name", "building-one")  # fmt: skip
        members = run_json(home, "iot", "list-things-in-thing-group", "--thing-group-name", "building-one")  # fmt: skip
        assert members["things"] == [thing]
        assert cloud.endpoint is not None
        listener = _listener(home, cloud.endpoint, tmp_path)
        # a new client of the member for each publish, with the files create-keys-and-certificate wrote
        member = functools.partial(
            DeviceClient,
            cloud.endpoint,
            tmp_path / f"{thing}.certificate.pem",
            tmp_path / f"{thing}.private.key",
            thing,
        )
        try:
            device = member().connect()
            try:
                device.publish(f"telemetry/building/one/{thing}", {"group": "test"}, qos=0)
                assert listener.expect(f"telemetry/building/one/{thing}") == {"group": "test"}
            finally:
                device.close()
            device = member().connect()
            try:
                device.publish(f"telemetry/building/one/{thing}_foo", {"group": "test"}, qos=0)
                try:
                    got = listener.expect(f"telemetry/building/one/{thing}_foo", timeout=1.5)
                except TimeoutError:
                    got = None
                assert got is None, "a publish the group's policy does not allow arrived"
            finally:
                device.close()
        finally:
            listener.close()
