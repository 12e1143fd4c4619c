"""The shims' parts that no firmware session uses load when first asked for (docs/esp32-differences.md
"Memory"): asked for, they are there and behave as before; a name the ESP32 port lacks is still
missing; and a plain import leaves them unloaded, so they cost an emulated board no GC heap."""

from __future__ import annotations

import json
from pathlib import Path

from host.paths import SHIMS_DIR
from rig.unix_port.process import run_mp

PROBE = """
import json, sys, time
import errno, esp32, machine
out = {"loaded": sorted(m for m in ("_machine_more", "_esp32_more") if m in sys.modules)}
out["errorcode"] = [errno.errorcode[113], errno.errorcode[119], errno.errorcode is errno.errorcode]
nvs = esp32.NVS("ns")
nvs.set_i32("n", 7)
try:
    nvs.get_i32("missing")
    out["nvs"] = [nvs.get_i32("n"), "found"]
except OSError as e:
    out["nvs"] = [nvs.get_i32("n"), e.errno]
esp32.wake_on_ext1([machine.Pin(4), 5], esp32.WAKEUP_ANY_HIGH)
out["esp32"] = [esp32._ext1, esp32.raw_temperature(), esp32.mcu_temperature()]
from machine import Timer, WDT, freq
hits = []
Timer(0).init(mode=Timer.ONE_SHOT, period=20, callback=hits.append)
time.sleep_ms(120)
out["timer"] = [len(hits), type(hits[0]).__name__ if hits else None]
out["machine"] = [freq(), machine.sleep is machine.lightsleep, WDT.__name__]
out["missing"] = [hasattr(machine, "nope"), hasattr(esp32, "Partition"), hasattr(errno, "EPIPE")]
print(json.dumps(out))
"""


def test_the_parts_no_session_uses_load_when_asked_and_behave_as_before(tmp_path: Path) -> None:
    lines = run_mp(PROBE, workdir=tmp_path, path=(SHIMS_DIR,), timeout=60)
    got = json.loads(lines[-1])
    assert got == {
        "loaded": [],  # `import machine, esp32` alone loads neither
        "errorcode": ["ECONNABORTED", "EINPROGRESS", True],  # newlib's numbers
        "nvs": [7, -4354],  # ESP_ERR_NVS_NOT_FOUND
        "esp32": [[[4, 5], 1], 120, 49],
        "timer": [1, "Timer"],  # a one-shot soft IRQ, given the Timer
        "machine": [160000000, True, "WDT"],
        "missing": [False, False, False],  # as on the ESP32 port: no such names
    }
