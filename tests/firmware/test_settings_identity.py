"""firmware/identity.py (serial number, version) and firmware/events.py (console lines, heap),
on the unix port with the board shims."""

from __future__ import annotations

import json
import re
from pathlib import Path

from host.paths import FIRMWARE_DIR, SHIMS_DIR
from rig.unix_port.process import run_mp

SCRIPT = """
import events, identity
events.emit("click", type="SINGLE", n=1)
events.heap()
events.heap()
print("SERIAL " + identity.serial_number())
print("FW " + identity.FW_VERSION)
import board, power
print("BATTERY %s" % power.battery_mv(board))
"""


EMULATED = FIRMWARE_DIR.parent / "boards" / "emulated"


def run(tmp_path: Path, files: dict[str, bytes]) -> list[str]:
    env = {"BUTTONRIG_UNIQUE_ID": "a1b2c3d4e5f6", "BUTTONRIG_BATTERY_MV": "2870"}
    files = {"board.py": (EMULATED / "board.py").read_bytes(), **files}
    return run_mp(SCRIPT, workdir=tmp_path, path=[FIRMWARE_DIR, SHIMS_DIR], files=files, env=env)


def test_serial_from_unique_id_without_a_label(tmp_path: Path) -> None:
    lines = run(tmp_path, {})
    assert "SERIAL ESP32-A1B2C3D4E5F6" in lines
    assert any(re.fullmatch(r"FW \d+\.\d+\.\d+", line) for line in lines)


def test_serial_label_on_the_flash_wins(tmp_path: Path) -> None:
    lines = run(tmp_path, {"serial": b"G030PT021234ABCD\n"})
    assert "SERIAL G030PT021234ABCD" in lines


def test_events_are_compact_json_lines_with_the_prefix(tmp_path: Path) -> None:
    lines = run(tmp_path, {})
    evt = [line for line in lines if line.startswith("EVT ")]
    assert all(" " not in line[4:] for line in evt), evt
    click = json.loads(evt[0][4:])
    assert click == {"ev": "click", "type": "SINGLE", "n": 1}
    heaps = [json.loads(line[4:]) for line in evt[1:]]
    assert [h["ev"] for h in heaps] == ["heap", "heap"]
    for h in heaps:
        assert h["free"] > 0 and 0 < h["alloc"] <= h["peak"]
    assert heaps[1]["peak"] >= heaps[0]["peak"]


def test_battery_through_the_profile_divider(tmp_path: Path) -> None:
    assert "BATTERY 2870" in run(tmp_path, {})


def test_no_battery_adc_reads_none(tmp_path: Path) -> None:
    profile = (
        (EMULATED / "board.py")
        .read_text()
        .replace("BATTERY_ADC_PIN = 34", "BATTERY_ADC_PIN = None")
    )
    assert "BATTERY None" in run(tmp_path, {"board.py": profile.encode()})
