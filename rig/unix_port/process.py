"""Run firmware code on the MicroPython unix port from CPython (tests and benchmarks).

`run_mp(source, data)` writes `source` as a script and `data` as JSON into a work directory (the
"flash": it is the process's cwd), runs the unix port with MICROPYPATH holding firmware/ (and
whatever else is asked for), gives the input file's path as argv[1], and returns stdout lines.
One process per call: batch many cases into one script to keep tests fast.

    lines = run_mp("import sys, json\\nprint(json.load(open(sys.argv[1]))['x'])", {"x": 1})

`MicroPythonProcess` is the streaming mode, for a script that runs on while the test talks to it
(a server, a client of the broker): `expect` waits for a line the way pytest-embedded's
`dut.expect` does — when the wait fails, the message shows the last lines seen instead — and the
process is killed and reaped on `close()` / leaving the `with` block.

    with MicroPythonProcess("print('READY', 1)", workdir=flash) as device:
        assert device.expect("READY") == "READY 1"
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from host.paths import FIRMWARE_DIR
from rig.unix_port.app_clock import app_clock_prefix
from rig.unix_port.binary import default_binary


class MicroPythonError(AssertionError):
    """The unix port failed; the message shows its exit code, stderr and the end of stdout."""


class ExpectTimeout(MicroPythonError):
    """`MicroPythonProcess.expect` saw no matching line; the message shows the last lines."""


def run_mp(
    source: str,
    data: Any = None,
    *,
    path: Sequence[Path] = (FIRMWARE_DIR,),
    workdir: Path | None = None,
    files: dict[str, bytes] | None = None,
    env: dict[str, str] | None = None,
    heapsize: str | None = None,
    timeout: float = 120.0,
) -> list[str]:
    """Run `source` on the unix port; return its stdout lines (raises MicroPythonError on failure).

    `files` are written into the work directory first (relative paths). `path` entries become
    MICROPYPATH (the work directory itself is searched first, like a board's flash).
    """
    with tempfile.TemporaryDirectory(prefix="mp-run-") as scratch:
        cwd = Path(workdir) if workdir is not None else Path(scratch)
        cwd.mkdir(parents=True, exist_ok=True)
        for name, content in (files or {}).items():
            target = cwd / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        script = Path(scratch) / "mp_script.py"
        script.write_text(source)
        data_file = Path(scratch) / "mp_input.json"
        data_file.write_text(json.dumps(data))
        argv = [*app_clock_prefix(), default_binary()]
        if heapsize:
            argv += ["-X", f"heapsize={heapsize}"]
        argv += [str(script), str(data_file)]
        # the work directory (flash) first, ".frozen" = asyncio and the other frozen modules
        search = [str(cwd.resolve()), ".frozen", *map(str, path)]
        full_env = {**os.environ, "MICROPYPATH": ":".join(search), **(env or {})}
        try:
            proc = subprocess.run(
                argv, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired as exc:
            raise MicroPythonError(
                f"unix port did not finish in {timeout} s; stdout so far:\n{_tail(exc.stdout)}"
            ) from None
    if proc.returncode != 0:
        raise MicroPythonError(
            f"unix port exited with {proc.returncode}\nstderr:\n{_tail(proc.stderr)}\n"
            f"stdout (end):\n{_tail(proc.stdout)}"
        )
    return proc.stdout.splitlines()


def run_mp_json(source: str, data: Any = None, **kwargs: Any) -> Any:
    """Like run_mp, and parse the last stdout line as JSON (the script's result)."""
    lines = run_mp(source, data, **kwargs)
    if not lines:
        raise MicroPythonError("the script printed nothing; expected a JSON result line")
    try:
        return json.loads(lines[-1])
    except ValueError:
        shown = _tail("\n".join(lines))
        raise MicroPythonError(f"last line is not JSON: {lines[-1]!r}\nstdout:\n{shown}") from None


class MicroPythonProcess:
    """`source` running on the unix port, its output (stdout and stderr) read line by line.

    `workdir` is the flash (the cwd, searched first for modules), `path` the rest of MICROPYPATH;
    `env` entries are added to the environment (None removes one). `lines` holds every line that
    `expect` has read past. No line may carry one of `secrets` (checked by `close`).
    """

    SHOWN_LINES = 20  # how much of the output a failed expect shows

    def __init__(
        self,
        source: str,
        *,
        workdir: Path,
        path: Sequence[Path] = (FIRMWARE_DIR,),
        env: Mapping[str, str | None] | None = None,
        secrets: Sequence[str] = (),
    ) -> None:
        full_env = dict(os.environ)
        full_env["MICROPYPATH"] = ":".join([str(workdir.resolve()), ".frozen", *map(str, path)])
        for name, value in (env or {}).items():
            if value is None:
                full_env.pop(name, None)
            else:
                full_env[name] = value
        self.secrets = [secret for secret in secrets if secret]
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()  # None: the output has ended
        self._ended = False
        self.process = subprocess.Popen(
            [*app_clock_prefix(), default_binary(), "-c", source],
            cwd=workdir,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        threading.Thread(target=self._read, name="micropython-output", daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def expect(self, pattern: str | re.Pattern[str], timeout: float = 30.0) -> str:
        """The next line that starts with `pattern` (a str) or that `pattern` (a compiled regex)
        matches somewhere in. Lines read past stay in `lines`. Raises ExpectTimeout when none
        comes within `timeout` s, or at once when the process ends without one."""
        matches = (
            pattern.search
            if isinstance(pattern, re.Pattern)
            else lambda line: line.startswith(pattern)
        )
        deadline = time.monotonic() + timeout
        while not self._ended:
            try:
                line = self._queue.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                break
            if line is None:
                self._ended = True
                break
            self.lines.append(line)
            if matches(line):
                return line
        raise ExpectTimeout(self._not_found(pattern, timeout))

    def _not_found(self, pattern: str | re.Pattern[str], timeout: float) -> str:
        wanted = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
        how = "a line matching" if isinstance(pattern, re.Pattern) else "a line starting with"
        code = self.process.poll()
        if code is None and self._ended:  # its output has ended: it is exiting
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self.process.wait(5)
        state = "still running" if code is None else f"exited with {code}"
        seen = self._redacted(self.lines[-self.SHOWN_LINES :])
        shown = "\n".join(f"  {line}" for line in seen) or "  (no output)"
        return (
            f"{how} {wanted!r} did not come within {timeout} s (the unix port is {state}); "
            f"the last {len(seen)} of {len(self.lines)} lines:\n{shown}"
        )

    def _redacted(self, lines: list[str]) -> list[str]:
        out = []
        for line in lines:
            for secret in self.secrets:
                line = line.replace(secret, "<secret>")
            out.append(line)
        return out

    def close(self) -> str:
        """Kill and reap the process; return its whole output. Safe to call twice.

        Raises MicroPythonError when a line carried one of `secrets` (without showing it)."""
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.process.wait(10)
        while not self._ended:  # the reader reaches the end once the process is gone
            try:
                line = self._queue.get(timeout=10)
            except queue.Empty:
                break
            if line is None:
                self._ended = True
            else:
                self.lines.append(line)
        console = "\n".join(self.lines)
        leaked = [n for n, secret in enumerate(self.secrets) if secret in console]
        if leaked:
            raise MicroPythonError(f"the console shows secret(s) number {leaked}")
        return console

    def __enter__(self) -> MicroPythonProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _tail(text: str | bytes | None, limit: int = 3000) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return text[-limit:]
