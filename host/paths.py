"""Where things are in the repository, defined once: the host tools, every layer above them, the
benchmarks and the tests import these (the host tools sit at the bottom, so this module lives
here)."""

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
