"""Running a local Lambda function in its own process, as Lambda runs it in an execution
environment that stays warm between invocations (L-2).

`Worker`: one process (rig/cloud/functions/bootstrap.py) for one function's code; it runs one
invocation at a time. Its output (print, logging, tracebacks) is read on a thread and written
to the function's log group, with the START / END / REPORT lines Lambda writes around each
invocation. A run past the function's timeout kills the process ("Task timed out after N.00
seconds"); a process that dies is an error ("Runtime exited …"); either way the next
invocation starts a new process, with a new log stream.

`WorkerPool`: the warm worker of each function in this process; a new one when the code or
configuration changed.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rig.cloud.functions.bootstrap import FRAME

BOOTSTRAP = Path(__file__).with_name("bootstrap.py")
LogSink = Callable[[str, list[str]], None]  # (log stream, lines)


@dataclass(frozen=True)
class Outcome:
    """What an invocation gave: `result` (JSON value) or `error` (errorMessage, errorType…)."""

    request_id: str
    result: Any = None
    error: dict[str, Any] | None = None
    timed_out: bool = False

    @property
    def failed(self) -> bool:
        return self.error is not None


@dataclass(frozen=True)
class Spec:
    """What a worker needs of a function's configuration (a new worker when it changes)."""

    name: str
    arn: str
    handler: str
    code_dir: Path
    timeout_s: int
    memory_mb: int
    environment: tuple[tuple[str, str], ...]


def log_stream_name() -> str:
    return time.strftime("%Y/%m/%d/[$LATEST]", time.gmtime()) + secrets.token_hex(16)


class Worker:
    def __init__(self, spec: Spec, sink: LogSink) -> None:
        self.spec = spec
        self.stream = log_stream_name()
        self._sink = sink
        self._frames: queue.Queue[dict[str, Any] | None] = queue.Queue()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
            **dict(spec.environment),
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": self.stream,
            "AWS_REGION": spec.arn.split(":")[3],
            "AWS_DEFAULT_REGION": spec.arn.split(":")[3],
            "PYTHONUNBUFFERED": "1",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-u", str(BOOTSTRAP), str(spec.code_dir), spec.handler],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=spec.code_dir,
        )
        self._reader = threading.Thread(target=self._read, name=f"lambda-{spec.name}", daemon=True)
        self._reader.start()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def _read(self) -> None:
        """The process's output: log lines to the sink, answer frames to the queue."""
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            if FRAME in line:
                before, frame = line.split(FRAME, 1)
                if before:
                    self._sink(self.stream, [before])
                try:
                    self._frames.put(json.loads(frame))
                except ValueError:
                    self._sink(self.stream, [line])
                continue
            self._sink(self.stream, [line])
        self._frames.put(None)  # the process ended

    def invoke(self, event: Any, request_id: str | None = None) -> Outcome:
        request_id = request_id or str(uuid.uuid4())
        spec = self.spec
        self._sink(self.stream, [f"START RequestId: {request_id} Version: $LATEST"])
        started = time.monotonic()
        deadline_ms = int(time.time() * 1000) + spec.timeout_s * 1000
        request = {
            "requestId": request_id,
            "event": event,
            "deadlineMs": deadline_ms,
            "functionArn": spec.arn,
        }
        frame: dict[str, Any] | None
        try:
            assert self.process.stdin is not None
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
            self.process.stdin.flush()
            frame = self._frames.get(timeout=spec.timeout_s)
            timed_out = False
        except (BrokenPipeError, OSError):
            frame, timed_out = None, False
        except queue.Empty:
            frame, timed_out = None, True
        elapsed_ms = (time.monotonic() - started) * 1000
        if timed_out:
            self.stop()
            now = time.time()
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
            stamp += f".{int(now * 1000) % 1000:03d}Z"
            message = f"{stamp} {request_id} Task timed out after {spec.timeout_s:.2f} seconds"
            self._sink(self.stream, [message])
            outcome = Outcome(
                request_id,
                error={"errorMessage": message, "errorType": "Sandbox.Timedout"},
                timed_out=True,
            )
        elif frame is None:
            code = self.process.wait()
            reason = f"signal: {_signal_name(-code)}" if code < 0 else f"exit status {code}"
            message = f"RequestId: {request_id} Error: Runtime exited with error: {reason}"
            self._sink(self.stream, [message])
            outcome = Outcome(
                request_id, error={"errorMessage": message, "errorType": "Runtime.ExitError"}
            )
        elif "error" in frame:
            outcome = Outcome(request_id, error=frame["error"])
        else:
            outcome = Outcome(request_id, result=frame.get("result"))
        used_mb = int((frame or {}).get("maxRssKb", 0)) // 1024
        self._sink(
            self.stream,
            [
                f"END RequestId: {request_id}",
                f"REPORT RequestId: {request_id}\tDuration: {elapsed_ms:.2f} ms\t"
                f"Billed Duration: {max(1, int(elapsed_ms + 0.999))} ms\t"
                f"Memory Size: {spec.memory_mb} MB\tMax Memory Used: {used_mb} MB\t",
            ],
        )
        return outcome

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass


def _signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name.removeprefix("SIG").lower()
    except ValueError:
        return str(number)


class WorkerPool:
    """The warm worker of each function in this process (one invocation at a time each)."""

    def __init__(self, sink: Callable[[str, str, list[str]], None]) -> None:
        self._sink = sink  # (function name, stream, lines)
        self._workers: dict[str, Worker] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def invoke(self, spec: Spec, event: Any) -> Outcome:
        with self._guard:
            lock = self._locks.setdefault(spec.name, threading.Lock())
        with lock:
            worker = self._workers.get(spec.name)
            if worker is None or not worker.alive or worker.spec != spec:
                if worker is not None:
                    worker.stop()
                worker = Worker(spec, lambda stream, lines: self._sink(spec.name, stream, lines))
                self._workers[spec.name] = worker
            return worker.invoke(event)

    def retire(self, name: str) -> None:
        with self._guard:
            worker = self._workers.pop(name, None)
        if worker is not None:
            worker.stop()

    def stop(self) -> None:
        with self._guard:
            workers = list(self._workers.values())
            self._workers.clear()
        for worker in workers:
            worker.stop()
