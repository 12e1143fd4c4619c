"""The emulated board finds its shims by a path relative to its flash (docs/esp32-differences.md
"Memory"): each module's path stays on the GC heap as its `__file__` qstr, which a chip's
built-in modules do not cost, so the shorter the better."""

from __future__ import annotations

from pathlib import Path

from rig.drivers.emulated import EmulatedBoard, shims_path_entry

FIRMWARE = """
import json, machine, network
print("EVT " + json.dumps({"ev": "boot", "files": [machine.__file__, network.__file__]}))
"""
PROFILE = "NAME = 'test'\nBUTTON_PIN = 0\nBUTTON_ACTIVE_LOW = True\nBATTERY_DIVIDER = 2.0\n"


def test_a_board_imports_its_shims_by_the_short_relative_path(tmp_path: Path) -> None:
    fw, prof = tmp_path / "fw", tmp_path / "prof"
    fw.mkdir()
    prof.mkdir()
    (fw / "main.py").write_text(FIRMWARE)
    (prof / "board.py").write_text(PROFILE)
    board = EmulatedBoard(tmp_path / "b", "paths", profile_dir=prof, firmware_dir=fw, mpy=True)
    try:
        board.deploy()
        board.start()
        boot = board.expect("boot", 30)
    finally:
        board.close()
    assert boot["files"] == ["../shims-mpy/machine.mpy", "../shims-mpy/network.mpy"]


def test_the_absolute_path_is_kept_when_it_is_the_shorter() -> None:
    flash = Path("/tmp/a/very/deep/board/workdir/flash")
    assert shims_path_entry(Path("/s"), flash) == "/s"
    assert shims_path_entry(flash.parent / "shims-mpy", flash) == "../shims-mpy"
