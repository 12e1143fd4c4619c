"""Hardware-in-the-loop test rig for Wi-Fi buttons: boards, broker, reference cloud, benchmarks."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FIRMWARE_DIR = REPO_ROOT / "firmware"
BOARDS_DIR = REPO_ROOT / "boards"
