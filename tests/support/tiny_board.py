"""An emulated board that runs a tiny test firmware (one main.py, not the product's) with its own
board profile: for the tests of the emulated board itself (shims, side channel, sleep)."""

from __future__ import annotations

from pathlib import Path

from rig.drivers.emulated import EmulatedBoard


def tiny_board(tmp_path: Path, name: str, firmware: str, profile: str) -> EmulatedBoard:
    """A board `name` deployed under `tmp_path` (not started) with `firmware` as its main.py and
    `profile` as its board.py."""
    fw, prof = tmp_path / "fw", tmp_path / "prof"
    fw.mkdir()
    prof.mkdir()
    (fw / "main.py").write_text(firmware)
    (prof / "board.py").write_text(profile)
    board = EmulatedBoard(tmp_path / "b", name, profile_dir=prof, firmware_dir=fw)
    board.deploy()
    return board
