"""The wake pin's pull-up in deep sleep (docs/esp32-differences.md "Time: epoch, ticks, wake").

On the ESP32-S3 (and S2) the pad loses its digital pull-up once ext0 hands it to the RTC domain,
unless it is held (Pin(..., hold=True); MicroPython issue #15260): the pin floats low, the chip
wakes at once and the firmware sees a phantom press every cycle. The shim reports such a pull as
`pull_lost` in its deep sleep message (the rig then wakes the board at once). The real app
sleeps on each profile; the shim's side-channel messages are printed instead of sent.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from host.paths import BOARDS_DIR, FIRMWARE_DIR, SHIMS_DIR
from rig.unix_port.process import run_mp

SERVICE = """
import json, _rig
def send(msg):
    if msg.get("op") == "deepsleep":
        print("SLEEP " + json.dumps(msg))
def end():
    raise SystemExit
_rig.send = send
_rig.end = end
def register(app):
    pass
"""


def sleep_message(tmp_path: Path, profile: str) -> dict[str, Any]:
    flash = tmp_path / "flash"
    flash.mkdir()
    shutil.copy(BOARDS_DIR / profile / "board.py", flash / "board.py")
    files = {
        "services.py": SERVICE.encode(),
        "settings.json": json.dumps({"schema": 1, "idle_sleep_s": 1, "heap_report_s": 0}).encode(),
    }
    lines = run_mp(
        "import app\napp.main()\n",
        workdir=flash,
        path=[FIRMWARE_DIR, SHIMS_DIR],
        files=files,
        timeout=60,
    )
    return json.loads(next(line for line in lines if line.startswith("SLEEP "))[6:])


@pytest.mark.parametrize("profile", ["esp32-s3-devkitc-1", "esp32-devkitc"])
def test_the_wake_pin_keeps_its_pull_up_in_deep_sleep(tmp_path: Path, profile: str) -> None:
    msg = sleep_message(tmp_path, profile)
    assert msg["ext0"] == [0, 0]  # GPIO0, wakes when pulled low by the button
    assert "pull_lost" not in msg
