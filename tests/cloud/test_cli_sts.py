"""`buttonrig sts get-caller-identity`: the workshop takes the account id from it
(`ACCOUNT_ID=$(aws sts get-caller-identity | jq -r '.Account')`, §5.7 and §5.10), and that id
must be the one in the cloud's ARNs (a topic rule's, a thing group's)."""

from __future__ import annotations

from pathlib import Path

from rig.pytest_plugin.cli_runner import buttonrig_json as run_json


def test_the_account_id_is_the_one_in_the_clouds_arns(tmp_path: Path) -> None:
    home = tmp_path / "home"
    identity = run_json(home, "sts", "get-caller-identity")
    assert set(identity) == {"UserId", "Account", "Arn"}
    account_id = identity["Account"]
    assert identity["Arn"].startswith(f"arn:aws:iam::{account_id}:")
    group = run_json(home, "iot", "create-thing-group", "--thing-group-name", "building-one")
    assert group["thingGroupArn"].split(":")[4] == account_id
