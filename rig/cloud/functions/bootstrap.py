"""The process a local Lambda function runs in (started by rig/cloud/functions/worker.py as a
script, so it imports nothing of the rig): `python -u bootstrap.py <code dir> <handler>`.

It plays the part of the Lambda Python runtime's bootstrap: reads one invocation request per
line on stdin (JSON: requestId, event, deadlineMs, functionArn, ...), imports the handler
module once (the "init" a warm container keeps; a failed import is tried again on the next
request, as Lambda does), calls `handler(event, context)`, and answers with one frame on
stdout: the record separator 0x1e, then JSON (`{"result": …}` or `{"error": {errorMessage,
errorType, stackTrace}}`), then a newline. Everything else the function writes on stdout or
stderr (print, logging) is its log output: the parent reads both from one pipe, in order
(unbuffered: `-u`). The root logger gets the runtime's handler and format
(`[LEVEL]\\t<time>\\t<request id>\\t<message>`), level WARNING unless the function sets one.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import resource
import sys
import time
import traceback
from typing import Any

FRAME = "\x1e"


class LambdaContext:
    """The context object of the Lambda Python runtime (the attributes the guide's code uses)."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = "$LATEST"
        self.invoked_function_arn = request["functionArn"]
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request["requestId"]
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = int(request["deadlineMs"])

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


def _install_logging() -> _RequestIdFilter:
    request_ids = _RequestIdFilter()
    handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(request_ids)
    logging.getLogger().addHandler(handler)
    return request_ids


def _error(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def _load(handler: str) -> Any:
    module_name, _, function_name = handler.rpartition(".")
    if not module_name:
        raise _InitError(
            f"Bad handler '{handler}': not enough values to unpack", "Runtime.MalformedHandlerName"
        )
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        raise _InitError(
            f"Unable to import module '{module_name}': {exc}", "Runtime.ImportModuleError"
        ) from exc
    except SyntaxError as exc:
        raise _InitError(
            f"Syntax error in module '{module_name}': {exc}", "Runtime.UserCodeSyntaxError"
        ) from exc
    function = getattr(module, function_name, None)
    if not callable(function):
        raise _InitError(
            f"Handler '{function_name}' missing on module '{module_name}'",
            "Runtime.HandlerNotFound",
        )
    return function


class _InitError(Exception):
    """An error of the runtime rather than of the function's code (import, marshalling)."""

    def __init__(self, message: str, error_type: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def _answer(answer: dict[str, Any]) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    answer["maxRssKb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    frame = FRAME + json.dumps(answer, default=str) + "\n"
    os.write(1, frame.encode())


def main(code_dir: str, handler_name: str) -> None:
    sys.path.insert(0, code_dir)
    os.chdir(code_dir)
    requests = sys.stdin.buffer
    request_ids = _install_logging()
    handler: Any = None
    for line in requests:
        request = json.loads(line)
        request_ids.request_id = request["requestId"]
        try:
            if handler is None:
                handler = _load(handler_name)
            result = handler(request["event"], LambdaContext(request))
            try:
                json.dumps(result)
            except (TypeError, ValueError) as exc:  # as the Lambda Python runtime says it
                raise _InitError(
                    f"Unable to marshal response: {exc}", "Runtime.MarshalError"
                ) from exc
            _answer({"result": result})
        except _InitError as exc:
            print(f"[ERROR] {exc.error_type}: {exc}", flush=True)
            _answer(
                {
                    "error": {
                        "errorMessage": str(exc),
                        "errorType": exc.error_type,
                        "stackTrace": [],
                    }
                }
            )
        except Exception as exc:  # the function's own error: reported, the process goes on
            if exc.__traceback__ is not None:  # the function's frames only, as Lambda shows
                exc.__traceback__ = exc.__traceback__.tb_next
            trace = "".join(traceback.format_exception(exc)).rstrip("\n")
            print(f"[ERROR] {type(exc).__name__}: {exc}\n{trace}", flush=True)
            _answer({"error": _error(exc)})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
