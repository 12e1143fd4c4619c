"""Where things are in the repository: defined once here, imported by the host tools, the rig,
the benchmarks and the tests (host sits below the rig, so the rig may import this, not the
other way round)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FIRMWARE_DIR = REPO_ROOT / "firmware"
BOARDS_DIR = REPO_ROOT / "boards"
EMULATED_PROFILE_DIR = BOARDS_DIR / "emulated"
# The emulated board's stand-ins for the ESP32's built-in modules (machine, network, ...).
SHIMS_DIR = EMULATED_PROFILE_DIR / "shims"
# Everything generated (bytecode, packages, benchmark results) goes below here, never in sources.
BUILD_ROOT = REPO_ROOT / "build"
