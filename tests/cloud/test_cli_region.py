"""aws-cli's global `--region`, which the workshop gives its lambda commands (`--region
$AWS_REGION`, §5.7): the cloud's one region is taken, another is refused saying so."""

from __future__ import annotations

from pathlib import Path

from function_zip import write_function_zip

from rig.cloud.core import arn
from rig.pytest_plugin.cli_runner import buttonrig as run
from rig.pytest_plugin.cli_runner import buttonrig_json as run_json


def test_the_workshops_lambda_commands_with_region(tmp_path: Path) -> None:
    home = tmp_path / "home"
    created = run_json(
        home, "lambda", "create-function", "--region", arn.REGION, "--function-name", "jitr",
        "--zip-file", f"fileb://{write_function_zip(tmp_path)}", "--role", "arn:aws:iam::123456789012:role/l",
        "--handler", "lambda_function.lambda_handler", "--runtime", "python3.12",
        "--timeout", "30", "--memory-size", "128",
    )  # fmt: skip
    assert created["FunctionName"] == "jitr"
    run(
        home, "lambda", "add-permission", "--function-name", "jitr", "--region", arn.REGION,
        "--principal", "iot.amazonaws.com", "--source-arn", f"arn:aws:iot:{arn.REGION}:{arn.ACCOUNT}:rule/JITRRule",
        "--source-account", arn.ACCOUNT, "--statement-id", "Id-123",
        "--action", "lambda:InvokeFunction",
    )  # fmt: skip
    assert run_json(home, "iot", "list-things", "--region", arn.REGION) == {"things": []}
    other = run(home, "iot", "list-things", "--region", "eu-west-1", ok=False)
    assert other.returncode == 255 and arn.REGION in other.stderr
