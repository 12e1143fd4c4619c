"""Run MicroPython code on the unix port from CPython tests (and benchmarks).

`run_mp(source, data)` writes `source` as a script and `data` as JSON into a work directory (the
"flash": it is the process's cwd), runs the unix port with MICROPYPATH holding firmware/ (and
whatever else is asked for), gives the input file's path as argv[1], and returns stdout lines.
One process per call: batch many cases into one script to keep tests fast.

    lines = run_mp("import sys, json\\nprint(json.load(open(sys.argv[1]))['x'])", {"x": 1})
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = REPO_ROOT / "firmware"
SHIMS = REPO_ROOT / "boards" / "emulated" / "shims"


class MicroPythonError(AssertionError):
    """The unix port failed; the message shows its exit code, stderr and the end of stdout."""


def micropython_binary() -> str:
    """The unix port: $BUTTONRIG_MICROPYTHON, else the venv's console script next to python."""
    configured = os.environ.get("BUTTONRIG_MICROPYTHON")
    if configured:
        return configured
    return str(Path(sys.executable).with_name("micropython"))


def run_mp(
    source: str,
    data: Any = None,
    *,
    path: Sequence[Path] = (FIRMWARE,),
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
        argv = [micropython_binary()]
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


def _tail(text: str | bytes | None, limit: int = 3000) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return text[-limit:]
