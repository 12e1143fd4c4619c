"""Run `buttonrig` from a test: in this process (the CLI code path minus the interpreter
start-up) or as a separate process, optionally with its output parsed as JSON."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def buttonrig(home: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `buttonrig --home HOME ARGS…` in this process (the CLI code path, minus the
    interpreter start-up); with ok=True it must succeed."""
    from rig.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(["--home", str(home), *args])
        except SystemExit as exc:  # argparse errors
            code = exc.code if isinstance(exc.code, int) else 2
    result = subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())
    if ok:
        assert result.returncode == 0, f"{args} failed ({result.returncode}): {result.stderr}"
    return result


def buttonrig_subprocess(
    home: Path, *args: str, ok: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run `buttonrig --home HOME ARGS…` as a separate process."""
    result = subprocess.run(
        [sys.executable, "-m", "rig.cli", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if ok:
        assert result.returncode == 0, f"{args} failed ({result.returncode}): {result.stderr}"
    return result


def buttonrig_json(home: Path, *args: str) -> Any:
    """`buttonrig` output parsed as JSON (None when it printed nothing)."""
    out = buttonrig(home, *args).stdout
    return json.loads(out) if out.strip() else None
