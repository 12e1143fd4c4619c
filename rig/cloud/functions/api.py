"""`Functions`: the local Lambda service's API (`cloud.functions`): create / get / list /
update-code / delete functions, `invoke` (RequestResponse, Event, DryRun) and `invoke_event`
(the FunctionInvoker the rules engine and 1-Click use).

Shapes follow the Lambda API (FunctionConfiguration, GetFunction's Configuration + Code) and its
errors (ResourceNotFoundException, ResourceConflictException, InvalidParameterValueException).
The zip is kept under the rig home (`cloud/functions/<name>/<sha256>.zip`) and unpacked beside
it; a function runs in its own process (rig/cloud/functions/worker.py).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import shutil
import time
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rig.cloud.core import arn as iot_arn
from rig.cloud.core.errors import CloudError
from rig.cloud.core.store import Store
from rig.cloud.functions.store import FunctionStore
from rig.cloud.functions.worker import Outcome, Spec, WorkerPool

# Lambda's Python runtimes (the python3.x family; python2.7 and 3.6/3.7 are deprecated)
RUNTIMES = ("python3.8", "python3.9", "python3.10", "python3.11", "python3.12", "python3.13")
DEFAULT_ROLE = f"arn:aws:iam::{iot_arn.ACCOUNT}:role/buttonrig-lambda"  # L-3
_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_ROLE = re.compile(r"^arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")
_ARN = re.compile(
    r"^arn:aws:lambda:[a-z0-9-]+:\d{12}:(?:function:)?(?P<name>[a-zA-Z0-9_-]{1,64})"
    r"(?::(?:\$LATEST|[a-zA-Z0-9_-]+))?$"
)
MAX_ZIP_BYTES = 50 * 1024 * 1024  # the direct-upload limit of a deployment package
MAX_EVENT_BYTES = {"Event": 256 * 1024, "RequestResponse": 6 * 1024 * 1024}  # Lambda quotas
RETRY_DELAYS_S = (1.0, 2.0)  # L-4: two retries of an asynchronous invocation


class ResourceConflictException(CloudError):
    code, http_status = "ResourceConflictException", 409


class InvalidParameterValueException(CloudError):
    code, http_status = "InvalidParameterValueException", 400


class FunctionNotFound(CloudError):
    code, http_status = "ResourceNotFoundException", 404


class InvalidRequestContentException(CloudError):
    code, http_status = "InvalidRequestContentException", 400


class RequestTooLargeException(CloudError):
    code, http_status = "RequestTooLargeException", 413


class RequestEntityTooLargeException(CloudError):
    code, http_status = "RequestEntityTooLargeException", 413


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{iot_arn.REGION}:{iot_arn.ACCOUNT}:function:{name}"


def function_name_of(name_or_arn: str) -> str:
    """A function's name from its name or ARN (with or without `function:`, L-1)."""
    match = _ARN.match(name_or_arn)
    if match:
        return match.group("name")
    if _NAME.match(name_or_arn):
        return name_or_arn
    raise InvalidParameterValueException(
        f"1 validation error detected: Value '{name_or_arn}' at 'functionName' failed to"
        " satisfy constraint: Member must satisfy regular expression pattern:"
        " (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?"
        "(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
    )


def _timestamp() -> str:
    now = time.time()
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        + f".{int(now * 1000) % 1000:03d}+0000"
    )


class Functions:
    """The local Lambda service of one rig home."""

    def __init__(self, store: Store, directory: Path) -> None:
        self.store = FunctionStore(store)
        self.directory = directory  # <home>/cloud/functions
        self.home = directory.parent.parent
        self.pool = WorkerPool(self._log)
        self.on_event: Callable[[], None] | None = None  # set by the dispatcher (wake-up)

    # ---- control plane --------------------------------------------------------------------

    def create_function(
        self,
        function_name: str,
        runtime: str,
        handler: str,
        zip_file: bytes,
        role: str | None = None,
        timeout: int = 3,
        memory_size: int = 128,
        environment: dict[str, Any] | None = None,
        description: str = "",
        **_ignored: Any,  # options of the API the local model takes and does not use
    ) -> dict[str, Any]:
        name = self._new_name(function_name)
        self._check_settings(runtime, handler, role, timeout, memory_size, environment)
        if self.store.configuration(name) is not None:  # before the code is kept anywhere
            raise ResourceConflictException(f"Function already exist: {name}")
        sha256, size = self._store_code(name, zip_file)
        configuration = {
            "FunctionName": name,
            "FunctionArn": function_arn(name),
            "Runtime": runtime,
            "Role": role or DEFAULT_ROLE,
            "Handler": handler,
            "CodeSize": size,
            "Description": description,
            "Timeout": timeout,
            "MemorySize": memory_size,
            "LastModified": _timestamp(),
            "CodeSha256": sha256,
            "Version": "$LATEST",
            "Environment": {"Variables": dict((environment or {}).get("Variables", {}))},
            "TracingConfig": {"Mode": "PassThrough"},
            "RevisionId": str(uuid.uuid4()),
            "State": "Active",
            "LastUpdateStatus": "Successful",
            "PackageType": "Zip",
            "Architectures": ["x86_64"],
        }
        with self.store.store.write() as db:
            if self.store.configuration(name) is not None:  # created meanwhile elsewhere
                raise ResourceConflictException(f"Function already exist: {name}")
            self.store.insert(db, name, configuration)
        return configuration

    def get_function(self, function_name: str) -> dict[str, Any]:
        configuration = self._configuration(function_name)
        name = configuration["FunctionName"]
        return {
            "Configuration": configuration,
            "Code": {
                "RepositoryType": "S3",  # as AWS says; the location is the local zip (L-3)
                "Location": self._zip_path(name, _hex(configuration["CodeSha256"])).as_uri(),
            },
        }

    def get_function_configuration(self, function_name: str) -> dict[str, Any]:
        return self._configuration(function_name)

    def list_functions(self, **_ignored: Any) -> dict[str, Any]:
        return {"Functions": self.store.configurations()}

    def update_function_code(
        self, function_name: str, zip_file: bytes, **_ignored: Any
    ) -> dict[str, Any]:
        configuration = self._configuration(function_name)
        name = configuration["FunctionName"]
        sha256, size = self._store_code(name, zip_file)
        configuration.update(
            CodeSha256=sha256,
            CodeSize=size,
            LastModified=_timestamp(),
            RevisionId=str(uuid.uuid4()),
        )
        with self.store.store.write() as db:
            self.store.update(db, name, configuration)
        return configuration

    def delete_function(self, function_name: str, **_ignored: Any) -> dict[str, Any]:
        name = self._configuration(function_name)["FunctionName"]
        with self.store.store.write() as db:
            self.store.delete(db, name)
        self.pool.retire(name)
        shutil.rmtree(self.directory / name, ignore_errors=True)
        return {}

    # ---- resource-based policy (kept and shown; not enforced, L-8) -------------------------

    def add_permission(
        self,
        function_name: str,
        statement_id: str,
        action: str,
        principal: str,
        source_arn: str | None = None,
        source_account: str | None = None,
        **_ignored: Any,
    ) -> dict[str, Any]:
        configuration = self._configuration(function_name)
        name = configuration["FunctionName"]
        if not re.fullmatch(r"[a-zA-Z0-9-_.]{1,100}", statement_id):
            raise InvalidParameterValueException(
                f"Value '{statement_id}' at 'statementId' failed to satisfy constraint: Member"
                " must satisfy regular expression pattern: ([a-zA-Z0-9-_.]+)"
            )
        service = principal.endswith(".amazonaws.com")
        statement: dict[str, Any] = {
            "Sid": statement_id,
            "Effect": "Allow",
            "Principal": {"Service": principal} if service else {"AWS": principal},
            "Action": action,
            "Resource": configuration["FunctionArn"],
        }
        condition: dict[str, Any] = {}
        if source_account is not None:
            condition["StringEquals"] = {"AWS:SourceAccount": source_account}
        if source_arn is not None:
            condition["ArnLike"] = {"AWS:SourceArn": source_arn}
        if condition:
            statement["Condition"] = condition
        with self.store.store.write() as db:
            statements = self.store.statements(name)
            if any(s["Sid"] == statement_id for s in statements):
                raise ResourceConflictException(
                    f"The statement id ({statement_id}) provided already exists. Please provide"
                    " a new statement id, or remove the existing statement."
                )
            self.store.set_statements(db, name, [*statements, statement])
        return {"Statement": json.dumps(statement, separators=(",", ":"))}

    def get_policy(self, function_name: str, **_ignored: Any) -> dict[str, Any]:
        configuration = self._configuration(function_name)
        statements = self.store.statements(configuration["FunctionName"])
        if not statements:
            raise FunctionNotFound("The resource you requested does not exist.")
        policy = {"Version": "2012-10-17", "Id": "default", "Statement": statements}
        return {
            "Policy": json.dumps(policy, separators=(",", ":")),
            "RevisionId": configuration["RevisionId"],
        }

    def remove_permission(
        self, function_name: str, statement_id: str, **_ignored: Any
    ) -> dict[str, Any]:
        name = self._configuration(function_name)["FunctionName"]
        with self.store.store.write() as db:
            statements = self.store.statements(name)
            kept = [s for s in statements if s["Sid"] != statement_id]
            if len(kept) == len(statements):
                raise FunctionNotFound(
                    f"Statement {statement_id} is not found in resource policy."
                )
            self.store.set_statements(db, name, kept)
        return {}

    # ---- invocation -----------------------------------------------------------------------

    def invoke(
        self,
        function_name: str,
        payload: bytes = b"{}",
        invocation_type: str = "RequestResponse",
        log_type: str = "None",
        **_ignored: Any,
    ) -> dict[str, Any]:
        """Lambda's Invoke: RequestResponse runs the function here and now (its own process);
        Event keeps the event for the running cloud (202); DryRun only checks (204)."""
        configuration = self._configuration(function_name)
        _check_size(len(payload), invocation_type)
        event = self._event(payload)
        if invocation_type == "DryRun":
            return {"StatusCode": 204}
        if invocation_type == "Event":
            self._enqueue(configuration["FunctionName"], event)
            return {"StatusCode": 202}
        outcome = self.run(configuration, event)
        response: dict[str, Any] = {"StatusCode": 200, "ExecutedVersion": "$LATEST"}
        if outcome.failed:
            response["FunctionError"] = "Unhandled"
            body = dict(outcome.error or {})
            body.setdefault("requestId", outcome.request_id)
            response["Payload"] = _json_bytes(body)
        else:
            response["Payload"] = _json_bytes(outcome.result)
        if log_type == "Tail":  # the last 4 KB of this invocation's log, as Lambda
            lines = [row["message"] for row in self.store.log_events(_group(configuration), 0)]
            start = f"START RequestId: {outcome.request_id} "
            first = next((i for i, line in enumerate(lines) if line.startswith(start)), 0)
            tail = "\n".join(lines[first:]).encode()[-4096:]
            response["LogResult"] = base64.b64encode(tail).decode()
        return response

    def invoke_event(self, function_arn: str, event: dict[str, Any]) -> None:
        """FunctionInvoker: keep the event and return; the running cloud's dispatcher runs it.
        ResourceNotFoundException (nothing kept) when no function has that ARN, as Lambda's
        Invoke answers an Event invocation of an unknown function."""
        configuration = self._configuration(function_arn)
        _check_size(len(json.dumps(event)), "Event")
        self._enqueue(configuration["FunctionName"], event)

    def run(self, configuration: dict[str, Any], event: Any) -> Outcome:
        """One invocation in the function's warm worker; counted."""
        try:
            outcome = self.pool.invoke(self._spec(configuration), event)
        except OSError as exc:  # its process could not start (its code gone from the home)
            message = f"the function's process could not start: {exc}"
            outcome = Outcome(
                str(uuid.uuid4()), error={"errorMessage": message, "errorType": "Runtime.Unknown"}
            )
        self.store.count(configuration["FunctionName"], outcome.failed, outcome.timed_out)
        return outcome

    def run_next_event(self, name: str) -> bool:
        """Run the oldest due event of `name` (the dispatcher's step); False when none was due.
        A failure is retried after 1 s and 2 s, then kept as failed (L-4)."""
        found = self.store.next_event(name, int(time.time() * 1000))
        if found is None:
            return False
        seq, event, attempts = found
        configuration = self.store.configuration(name)
        if configuration is None:  # deleted (maybe by another process) since it was invoked
            self.pool.retire(name)
            self.store.failed_attempt(seq, f"Function not found: {function_arn(name)}", None)
            return True
        outcome = self.run(configuration, event)
        if not outcome.failed:
            self.store.done(seq)
            return True
        error = outcome.error or {}
        message = f"{error.get('errorType', 'Error')}: {error.get('errorMessage', '')}"
        retry = (
            int((time.time() + RETRY_DELAYS_S[attempts]) * 1000)
            if attempts < len(RETRY_DELAYS_S)
            else None
        )
        self.store.failed_attempt(seq, message, retry)
        return True

    def metrics(self, function_name: str) -> dict[str, int]:
        """Invocations, Errors and Timeouts of a function so far (tests, diagnosis)."""
        return self.store.metrics(self._configuration(function_name)["FunctionName"])

    def events(self, function_name: str | None = None) -> list[dict[str, Any]]:
        """Asynchronous events still kept (pending or failed)."""
        name = None if function_name is None else function_name_of(function_name)
        return self.store.events(name)

    def close(self) -> None:
        self.pool.stop()

    # ---- helpers ---------------------------------------------------------------------------

    def _enqueue(self, name: str, event: Any) -> None:
        self.store.enqueue(name, event)
        if self.on_event is not None:
            self.on_event()

    def _event(self, payload: bytes) -> Any:
        from rig.cloud.core.jsoncodec import loads

        try:
            return loads(payload or b"{}")
        except (ValueError, RecursionError) as exc:
            raise InvalidRequestContentException(
                f"Could not parse request body into json: {exc}"
            ) from exc

    def _log(self, name: str, stream: str, lines: list[str]) -> None:
        self.store.append_log(f"/aws/lambda/{name}", stream, lines)

    def _configuration(self, name_or_arn: str) -> dict[str, Any]:
        name = function_name_of(name_or_arn)
        configuration = self.store.configuration(name)
        if configuration is None:
            raise FunctionNotFound(f"Function not found: {function_arn(name)}")
        return configuration

    def _new_name(self, function_name: str) -> str:
        if not _NAME.match(function_name):
            return function_name_of(function_name)  # an ARN, or the pattern's error
        return function_name

    def _check_settings(
        self,
        runtime: str,
        handler: str,
        role: str | None,
        timeout: int,
        memory_size: int,
        environment: dict[str, Any] | None,
    ) -> None:
        if runtime not in RUNTIMES:
            if runtime.startswith("python"):
                raise InvalidParameterValueException(
                    f"The runtime parameter of {runtime} is no longer supported for creating or"
                    " updating AWS Lambda functions. We recommend you use the new runtime"
                    f" ({RUNTIMES[-1]}) while creating or updating functions."
                )
            raise InvalidParameterValueException(
                f"Value {runtime} at 'runtime' failed to satisfy constraint: the local cloud"
                f" runs Python functions only: {', '.join(RUNTIMES)}"
            )
        if not re.fullmatch(r"[^\s]{1,128}", handler or ""):
            raise InvalidParameterValueException(
                f"Value '{handler}' at 'handler' failed to satisfy constraint: Member must"
                " satisfy regular expression pattern: [^\\s]+"
            )
        if role is not None and not _ROLE.match(role):
            raise InvalidParameterValueException(
                f"Value '{role}' at 'role' failed to satisfy constraint: Member must satisfy"
                " regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?"
                "[a-zA-Z_0-9+=,.@\\-_/]+"
            )
        if not 1 <= timeout <= 900:
            raise InvalidParameterValueException(
                f"Value {timeout} at 'timeout' failed to satisfy constraint: Member must have"
                " value less than or equal to 900 and greater than or equal to 1"
            )
        if not 128 <= memory_size <= 10240:
            raise InvalidParameterValueException(
                f"Value {memory_size} at 'memorySize' failed to satisfy constraint: Member must"
                " have value less than or equal to 10240 and greater than or equal to 128"
            )
        variables = (environment or {}).get("Variables", {})
        if not isinstance(variables, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and re.fullmatch(r"[a-zA-Z]\w+", k)
            for k, v in variables.items()
        ):
            raise InvalidParameterValueException(
                "Environment variables: names must start with a letter and contain letters,"
                " digits and underscores only (at least two characters); values are strings"
            )

    def _store_code(self, name: str, zip_file: bytes) -> tuple[str, int]:
        """Keep the zip (checked: a zip archive) and unpack it; (CodeSha256, CodeSize)."""
        if len(zip_file) > MAX_ZIP_BYTES:
            raise RequestTooLargeException(
                "Request must be smaller than 69905067 bytes for the CreateFunction operation"
            )
        try:
            with zipfile.ZipFile(io.BytesIO(zip_file)) as archive:
                if archive.testzip() is not None:
                    raise zipfile.BadZipFile("a member is corrupt")
                digest = hashlib.sha256(zip_file)
                code_dir = self.directory / name / digest.hexdigest()
                if not code_dir.is_dir():
                    staging = code_dir.with_name(code_dir.name + ".tmp")
                    shutil.rmtree(staging, ignore_errors=True)
                    archive.extractall(staging)  # strips absolute paths and `..`
                    staging.rename(code_dir)
        except (zipfile.BadZipFile, ValueError, OSError) as exc:
            raise InvalidParameterValueException(
                "Could not unzip uploaded file. Please check your file, then try to upload again."
            ) from exc
        self._zip_path(name, digest.hexdigest()).write_bytes(zip_file)
        return base64.b64encode(digest.digest()).decode(), len(zip_file)

    def _zip_path(self, name: str, hex_digest: str) -> Path:
        return self.directory / name / f"{hex_digest}.zip"

    def _spec(self, configuration: dict[str, Any]) -> Spec:
        name = configuration["FunctionName"]
        hex_digest = _hex(configuration["CodeSha256"])
        variables = configuration.get("Environment", {}).get("Variables", {})
        return Spec(
            name=name,
            arn=configuration["FunctionArn"],
            handler=configuration["Handler"],
            code_dir=self.directory / name / hex_digest,
            timeout_s=int(configuration["Timeout"]),
            memory_mb=int(configuration["MemorySize"]),
            # the rig home, so a local function can use the cloud's Python API (L-7)
            environment=tuple(sorted({"BUTTONRIG_HOME": str(self.home), **variables}.items())),
        )


def _check_size(size: int, invocation_type: str) -> None:
    limit = MAX_EVENT_BYTES.get(invocation_type, MAX_EVENT_BYTES["RequestResponse"])
    if size > limit:
        raise RequestEntityTooLargeException(
            f"{invocation_type} invocation payload is {size} bytes, more than the {limit} bytes"
            " Lambda takes"
        )


def _hex(code_sha256: str) -> str:
    """CodeSha256 (base64, as Lambda gives it) as the hex name of the kept zip."""
    return base64.b64decode(code_sha256).hex()


def _group(configuration: dict[str, Any]) -> str:
    return f"/aws/lambda/{configuration['FunctionName']}"


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
