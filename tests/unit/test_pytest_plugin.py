"""rig/pytest_plugin/boards.py: `--board-profile` says what a physical board is (serial boards only)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rig.drivers.serial import SerialBoard
from rig.pytest_plugin.boards import check_profile, open_test_board

INNER_TEST = """
def test_profile(board_profile):
    assert board_profile == {expected!r}, board_profile
"""


def test_serial_board_is_opened_with_the_profile_given(tmp_path: Path) -> None:
    board = open_test_board("loop://", tmp_path, "b", "m5stack-atom", {"heapsize": "64K"})
    try:
        assert isinstance(board, SerialBoard)
        assert board.profile_name == "m5stack-atom"
    finally:
        board.close()


def test_unknown_profile_is_a_usage_error_naming_the_known_ones() -> None:
    with pytest.raises(pytest.UsageError, match="esp32-devkitc") as raised:
        check_profile("esp8266-nodemcu")
    assert "esp8266-nodemcu" in str(raised.value)


@pytest.mark.parametrize(
    ("args", "expected"),
    [([], "esp32-devkitc"), (["--board-profile", "esp32-s3-devkitc-1"], "esp32-s3-devkitc-1")],
)
def test_option_reaches_the_fixture(tmp_path: Path, args: list[str], expected: str) -> None:
    (tmp_path / "test_inner.py").write_text(INNER_TEST.format(expected=expected))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "rig.pytest_plugin", *args, "test_inner.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
