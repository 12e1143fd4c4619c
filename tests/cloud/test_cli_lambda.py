"""`buttonrig lambda …` and `buttonrig logs tail` as a user runs them: aws-cli shapes, the
function in its own process, its logs, and bad input that changes nothing."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from rig.cloud.api import Cloud
from rig.pytest_plugin.cli_runner import buttonrig as run
from rig.pytest_plugin.cli_runner import buttonrig_json as run_json
from rig.pytest_plugin.cli_runner import buttonrig_subprocess

HANDLER = "app.handler"
SOURCE = """
    import os

    def handler(event, context):
        print("event", event, "pid", os.getpid())
        if "boom" in event:
            raise KeyError(event["boom"])
        if "exit" in event:
            os._exit(event["exit"])
        if "set" in event:
            return {1, 2}
        return {
            "greeting": os.environ.get("GREETING"),
            "name": context.function_name,
            "arn": context.invoked_function_arn,
            "memory": context.memory_limit_in_mb,
            "request": context.aws_request_id,
            "remaining": context.get_remaining_time_in_millis(),
            "home": os.environ.get("BUTTONRIG_HOME"),
        }
"""


def zip_file(directory: Path, name: str, files: dict[str, str]) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, textwrap.dedent(text))
    target = directory / f"{name}.zip"
    target.write_bytes(buffer.getvalue())
    return f"fileb://{target}"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli-lambda-home")
    path.chmod(0o700)
    return path


def _create(home: Path, name: str, code: str, *extra: str) -> dict[str, object]:
    return run_json(
        home,
        "lambda",
        "create-function",
        "--function-name",
        name,
        "--runtime",
        "python3.12",
        "--handler",
        HANDLER,
        "--zip-file",
        code,
        *extra,
    )


def _invoke(home: Path, name: str, payload: str, out: Path, *extra: str) -> dict[str, object]:
    return run_json(
        home, "lambda", "invoke", "--function-name", name, "--payload", payload, *extra, str(out)
    )


def test_function_lifecycle_and_invoke_shapes(home: Path, tmp_path: Path) -> None:
    code = zip_file(tmp_path, "app", {"app.py": SOURCE})
    created = _create(
        home, "Greeter", code, "--environment", "Variables={GREETING=hello}", "--timeout", "5"
    )
    assert created["FunctionArn"] == "arn:aws:lambda:us-east-1:123456789012:function:Greeter"
    assert created["Runtime"] == "python3.12" and created["Handler"] == HANDLER
    assert created["Timeout"] == 5 and created["MemorySize"] == 128
    assert created["Environment"] == {"Variables": {"GREETING": "hello"}}
    assert len(base64.b64decode(str(created["CodeSha256"]))) == 32
    got = run_json(home, "lambda", "get-function", "--function-name", "Greeter")
    assert got["Configuration"] == created and got["Code"]["RepositoryType"] == "S3"
    assert Path(got["Code"]["Location"].removeprefix("file://")).is_file()  # under the home
    assert got["Code"]["Location"].startswith(home.as_uri())
    names = [f["FunctionName"] for f in run_json(home, "lambda", "list-functions")["Functions"]]
    assert "Greeter" in names

    out = tmp_path / "out.json"
    shown = _invoke(home, "Greeter", '{"a": 1}', out)
    assert shown == {"StatusCode": 200, "ExecutedVersion": "$LATEST"}
    result = json.loads(out.read_text())
    assert result["greeting"] == "hello" and result["name"] == "Greeter"
    assert result["arn"] == created["FunctionArn"] and result["memory"] == 128
    assert 0 < result["remaining"] <= 5000
    assert result["home"] == str(home)  # the rig home: the cloud's Python API is reachable

    # aws-cli v2's default binary format: the payload in base64
    encoded = base64.b64encode(b'{"b": 2}').decode()
    assert _invoke(home, "Greeter", encoded, out)["StatusCode"] == 200

    updated = run_json(
        home,
        "lambda",
        "update-function-code",
        "--function-name",
        "Greeter",
        "--zip-file",
        zip_file(tmp_path, "v2", {"app.py": "def handler(event, context):\n    return 'v2'\n"}),
    )
    assert updated["CodeSha256"] != created["CodeSha256"]
    _invoke(home, "Greeter", "{}", out)
    assert json.loads(out.read_text()) == "v2"

    logs = run(home, "logs", "tail", "/aws/lambda/Greeter").stdout.splitlines()
    assert any("START RequestId:" in line for line in logs)
    assert any("event {'a': 1}" in line for line in logs)
    assert any("REPORT RequestId:" in line and "Duration:" in line for line in logs)
    stamp, stream, *_ = logs[0].split(" ")
    assert stamp.endswith("+00:00") and stream.startswith(time.strftime("%Y/%m/%d/[$LATEST]"))

    assert run(home, "lambda", "delete-function", "--function-name", "Greeter").stdout == ""
    gone = run(home, "lambda", "get-function", "--function-name", "Greeter", ok=False)
    assert gone.returncode == 255
    assert (
        "An error occurred (ResourceNotFoundException) when calling the GetFunction operation:"
        " Function not found: arn:aws:lambda:us-east-1:123456789012:function:Greeter"
    ) in gone.stderr


def test_function_errors_crashes_and_a_zip_without_the_handler(home: Path, tmp_path: Path) -> None:
    _create(home, "Faulty", zip_file(tmp_path, "app", {"app.py": SOURCE}))
    out = tmp_path / "out.json"
    shown = _invoke(home, "Faulty", '{"boom": "x"}', out)
    assert shown == {"StatusCode": 200, "FunctionError": "Unhandled", "ExecutedVersion": "$LATEST"}
    error = json.loads(out.read_text())
    assert error["errorType"] == "KeyError" and error["errorMessage"] == "'x'"
    assert any("app.py" in frame for frame in error["stackTrace"])
    shown = _invoke(home, "Faulty", '{"exit": 7}', out)
    assert shown["FunctionError"] == "Unhandled"
    assert json.loads(out.read_text())["errorType"] == "Runtime.ExitError"
    assert "exit status 7" in json.loads(out.read_text())["errorMessage"]
    assert "FunctionError" not in _invoke(home, "Faulty", "{}", out)  # a new process
    assert _invoke(home, "Faulty", '{"set": 1}', out)["FunctionError"] == "Unhandled"
    error = json.loads(out.read_text())
    assert error["errorType"] == "Runtime.MarshalError"
    assert error["errorMessage"].startswith("Unable to marshal response:")

    _create(home, "NoHandler", zip_file(tmp_path, "other", {"other.py": "x = 1\n"}))
    shown = _invoke(home, "NoHandler", "{}", out)
    assert shown["FunctionError"] == "Unhandled"
    error = json.loads(out.read_text())
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert "Unable to import module 'app'" in error["errorMessage"]
    assert "Runtime.ImportModuleError" in run(home, "logs", "tail", "/aws/lambda/NoHandler").stdout


def test_a_timeout_kills_the_function(home: Path, tmp_path: Path) -> None:
    sleeper = "import time\ndef handler(event, context):\n    time.sleep(60)\n"
    _create(home, "Sleeper", zip_file(tmp_path, "s", {"app.py": sleeper}), "--timeout", "1")
    out = tmp_path / "out.json"
    started = time.monotonic()
    shown = _invoke(home, "Sleeper", "{}", out)
    assert time.monotonic() - started < 10
    assert shown["FunctionError"] == "Unhandled"
    assert "Task timed out after 1.00 seconds" in json.loads(out.read_text())["errorMessage"]
    assert (
        "Task timed out after 1.00 seconds"
        in run(home, "logs", "tail", "/aws/lambda/Sleeper").stdout
    )


@pytest.mark.parametrize(
    ("options", "code", "words"),
    [
        (("--runtime", "python2.7"), "InvalidParameterValueException", "no longer supported"),
        (("--runtime", "nodejs18.x"), "InvalidParameterValueException", "Python functions"),
        (("--timeout", "0"), "InvalidParameterValueException", "'timeout'"),
        (("--role", "not-a-role"), "InvalidParameterValueException", "'role'"),
        (("--function-name", "bad name"), "InvalidParameterValueException", "functionName"),
        (("--zip-file", "NOTZIP"), "InvalidParameterValueException", "Could not unzip"),
        (("--function-name", "Existing"), "ResourceConflictException", "already exist"),
    ],
)
def test_bad_functions_are_refused_and_nothing_changes(
    home: Path, tmp_path: Path, options: tuple[str, str], code: str, words: str
) -> None:
    good = zip_file(tmp_path, "app", {"app.py": SOURCE})
    listed = run_json(home, "lambda", "list-functions")["Functions"]
    if "Existing" not in [f["FunctionName"] for f in listed]:
        _create(home, "Existing", good)
    before = run_json(home, "lambda", "list-functions")
    files_before = sorted(p.name for p in (home / "cloud" / "functions").iterdir())
    not_zip = tmp_path / "not.zip"
    not_zip.write_bytes(b"PK\x03\x04 not really")
    settings = {
        "--function-name": "NewOne",
        "--runtime": "python3.12",
        "--handler": HANDLER,
        "--zip-file": good,
    }
    flag, value = options
    settings[flag] = f"fileb://{not_zip}" if value == "NOTZIP" else value
    args = [item for pair in settings.items() for item in pair]
    refused = run(home, "lambda", "create-function", *args, ok=False)
    assert refused.returncode == 255
    assert f"An error occurred ({code}) when calling the CreateFunction operation" in (
        refused.stderr
    ), refused.stderr
    assert words in refused.stderr
    assert run_json(home, "lambda", "list-functions") == before
    assert sorted(p.name for p in (home / "cloud" / "functions").iterdir()) == files_before


def test_an_event_invocation_is_kept_until_a_cloud_runs_it(home: Path, tmp_path: Path) -> None:
    _create(home, "Later", zip_file(tmp_path, "app", {"app.py": SOURCE}))
    out = tmp_path / "out.json"
    shown = _invoke(home, "Later", '{"later": true}', out, "--invocation-type", "Event")
    assert shown == {"StatusCode": 202}
    assert out.read_bytes() == b""
    cloud = Cloud(home)
    try:
        (kept,) = cloud.functions.events("Later")
        assert kept["event"] == {"later": True} and kept["state"] == "pending"
        assert cloud.functions.run_next_event("Later")  # what the running cloud's dispatcher does
        assert cloud.functions.events("Later") == []
    finally:
        cloud.close()
    missing = run(home, "lambda", "invoke", "--function-name", "Nope", str(out), ok=False)
    assert "(ResourceNotFoundException)" in missing.stderr
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"blob": "x" * 300_000}))  # over the 256 KB of an Event
    too_big = run(
        home, "lambda", "invoke", "--function-name", "Later", "--invocation-type", "Event",
        "--payload", f"fileb://{big}", str(out), ok=False,
    )  # fmt: skip
    assert "(RequestEntityTooLargeException)" in too_big.stderr
    cloud = Cloud(home)
    try:
        assert cloud.functions.events("Later") == []  # nothing kept
    finally:
        cloud.close()


def test_logs_tail_follow_prints_new_lines(home: Path, tmp_path: Path) -> None:
    _create(home, "Followed", zip_file(tmp_path, "app", {"app.py": SOURCE}))
    follower = subprocess.Popen(
        [sys.executable, "-m", "rig.cli", "--home", str(home), "logs", "tail",
         "/aws/lambda/Followed", "--follow"],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        time.sleep(1.0)
        _invoke(home, "Followed", '{"followed": 1}', tmp_path / "out.json")
        assert follower.stdout is not None
        deadline = time.monotonic() + 20
        seen = []
        while time.monotonic() < deadline:
            line = follower.stdout.readline()
            seen.append(line)
            if "REPORT RequestId:" in line:
                break
        assert any("event {'followed': 1}" in line for line in seen), seen
    finally:
        follower.kill()
        follower.wait()
    unknown = buttonrig_subprocess(home, "logs", "tail", "/aws/lambda/NoSuch", ok=False)
    assert unknown.returncode == 255
    assert "The specified log group does not exist." in unknown.stderr


def test_log_type_tail_gives_this_invocations_log(home: Path, tmp_path: Path) -> None:
    _create(home, "Tailed", zip_file(tmp_path, "app", {"app.py": SOURCE}))
    out = tmp_path / "out.json"
    _invoke(home, "Tailed", '{"first": 1}', out)
    shown = _invoke(home, "Tailed", '{"second": 2}', out, "--log-type", "Tail")
    assert list(shown) == ["StatusCode", "LogResult", "ExecutedVersion"]
    log = base64.b64decode(str(shown["LogResult"])).decode()
    assert log.startswith("START RequestId: ") and "event {'second': 2}" in log
    assert "first" not in log and "REPORT RequestId: " in log


def test_the_workshops_add_permission_and_get_policy(home: Path, tmp_path: Path) -> None:
    _create(home, "jitr", zip_file(tmp_path, "app", {"app.py": SOURCE}))
    no_policy = run(home, "lambda", "get-policy", "--function-name", "jitr", ok=False)
    assert "(ResourceNotFoundException)" in no_policy.stderr
    rule_arn = "arn:aws:iot:us-east-1:123456789012:rule/JITRRule"
    permission = [
        "lambda", "add-permission", "--function-name", "jitr", "--principal",
        "iot.amazonaws.com", "--source-arn", rule_arn, "--source-account", "123456789012",
        "--statement-id", "Id-123", "--action", "lambda:InvokeFunction",
    ]  # fmt: skip
    statement = json.loads(run_json(home, *permission)["Statement"])
    assert statement["Sid"] == "Id-123" and statement["Action"] == "lambda:InvokeFunction"
    assert statement["Principal"] == {"Service": "iot.amazonaws.com"}
    assert statement["Condition"]["ArnLike"] == {"AWS:SourceArn": rule_arn}
    policy = json.loads(
        run_json(home, "lambda", "get-policy", "--function-name", "jitr")["Policy"]
    )
    assert policy["Statement"] == [statement]
    again = run(home, *permission, ok=False)
    assert "(ResourceConflictException)" in again.stderr and "Id-123" in again.stderr
    run(home, "lambda", "remove-permission", "--function-name", "jitr", "--statement-id", "Id-123")
    gone = run(home, "lambda", "get-policy", "--function-name", "jitr", ok=False)
    assert "(ResourceNotFoundException)" in gone.stderr
