"""The firmware's GC heap on a 32-bit MicroPython, next to the same measurement on the x64 unix port.

An ESP32 is a 32-bit machine: 4-byte words and 16-byte GC blocks, where the unix port has 8-byte
words and 32-byte blocks. No ESP32 emulator can be had (docs/architecture.md decision 1), but MicroPython's
WebAssembly port (npm `@micropython/micropython-webassembly-pyscript`, the same release as the
unix port, run by node) is a 32-bit MicroPython that loads the same bytecode .mpy files.

Both ports run one probe: the deployed firmware (.mpy, the `esp32-devkitc` board profile) with a
configuration and certificates on its flash, imports its modules and boots (`app.App().boot()`:
settings, click detector, LED, button, services with Wi-Fi station, MQTT client and outbox). What
a port lacks is replaced by the same small stand-ins on both ports, loaded before the baseline so
they are not counted: `machine`, `network`, `socket` (no hardware), `ssl` (the WebAssembly port has
no TLS: the TLS context's parsed certificates, about 3.5 KB on x64, are left out on both) and
`asyncio.ThreadSafeFlag` (an `asyncio.Event` stands in on both ports).

Metrics:
- `firmware_heap_boot_bytes_wasm32`: live GC heap (after `gc.collect()`) of the firmware's modules
  and the objects its boot builds, on the 32-bit port;
- `firmware_heap_boot_bytes_x64`: the same probe on the x64 unix port;
- `firmware_heap_ratio_32_64`: the first divided by the second (what a 32-bit chip holds per byte
  the emulated board holds, for the firmware's own modules and objects).

Needs the WebAssembly port installed by `make benchmark` (npm, build/wasm32).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from host.deploy import firmware_sources
from host.mpy import compile_module
from host.paths import BOARDS_DIR, BUILD_ROOT
from rig.unix_port.binary import default_binary

METRICS = (
    "firmware_heap_boot_bytes_wasm32",
    "firmware_heap_boot_bytes_x64",
    "firmware_heap_ratio_32_64",
)

RUNNER = Path(__file__).with_name("wasm32") / "run.mjs"
WASM32_DIR = BUILD_ROOT / "wasm32"
WASM32_MODULE = (
    WASM32_DIR
    / "node_modules"
    / "@micropython"
    / "micropython-webassembly-pyscript"
    / "micropython.mjs"
)
BOARD_PROFILE = BOARDS_DIR / "esp32-devkitc" / "board.py"
TIMEOUT_S = 120.0

STANDINS = {
    "machine": """
PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET, SOFT_RESET = 1, 2, 3, 4, 5
EXT0_WAKE, TIMER_WAKE = 2, 4
class Pin:
    IN, OUT, PULL_UP, IRQ_RISING, IRQ_FALLING = 1, 3, 2, 1, 2
    def __init__(self, id, mode=-1, pull=-1):
        self.level = 1
    def value(self, v=None):
        if v is None:
            return self.level
        self.level = v
    def irq(self, handler=None, trigger=3):
        self.handler = handler
def reset_cause():
    return PWRON_RESET
def wake_reason():
    return 0
def unique_id():
    return b"\\x24\\x0a\\xc4\\x01\\x02\\x03"
""",
    "network": """
STA_IF = 0
STAT_IDLE, STAT_CONNECTING, STAT_GOT_IP = 1000, 1001, 1010
STAT_BEACON_TIMEOUT, STAT_NO_AP_FOUND, STAT_WRONG_PASSWORD = 200, 201, 202
STAT_ASSOC_FAIL, STAT_HANDSHAKE_TIMEOUT = 203, 204
class WLAN:
    def __init__(self, interface=0):
        pass
""",
    "socket": """
AF_INET, SOCK_STREAM, SOCK_DGRAM = 2, 1, 2
def getaddrinfo(host, port, af=0, type=0):
    return []
""",
    "ssl": """
PROTOCOL_TLS_CLIENT, CERT_REQUIRED = 2, 2
class SSLContext:
    def __init__(self, protocol):
        pass
    def load_cert_chain(self, cert, key):
        pass
    def load_verify_locations(self, cafile=None, cadata=None):
        pass
""",
}

# Each mark in chunks of its own after a collection (see wasm32/run.mjs); one process on unix.
_SETTLE = "#---\ngc.collect()\n#---\n"
PROBE = f"""
import gc, sys
sys.path.insert(0, "standins")
import machine, network, socket, ssl, asyncio
asyncio.ThreadSafeFlag = asyncio.Event
asyncio.Event, asyncio.wait_for_ms, asyncio.sleep_ms
def mark(name):
    gc.collect()
    print("HEAP32 %s %d" % (name, gc.mem_alloc()))
{_SETTLE}mark("base")
import app, configmode, connection, clock, mqtt, outbox, wifi
{_SETTLE}mark("code")
app.current = app.App()
app.current.boot()
{_SETTLE}mark("boot")
"""

_MARK = re.compile(r"^HEAP32 (\w+) (\d+)$")


def _flash(root: Path) -> Path:
    """A configured board's flash: firmware .mpy, board profile, stand-ins, configuration."""
    flash = root / "flash"
    for src in firmware_sources():
        if src.stem != "main":
            compile_module(src, flash / f"{src.stem}.mpy")
    compile_module(BOARD_PROFILE, flash / "board.mpy")
    for name, source in STANDINS.items():
        (root / f"{name}.py").write_text(source)
        compile_module(root / f"{name}.py", flash / "standins" / f"{name}.mpy")
    netcfg = {"ssid": "home", "password": "password123", "host": "localhost", "port": 8883}
    (flash / "netcfg.json").write_text(json.dumps(netcfg))
    (flash / "pki").mkdir()
    for name in ("cert", "key", "ca"):  # any bytes: the ssl stand-in does not parse them
        (flash / "pki" / f"{name}.der").write_bytes(bytes(600))
    (flash / "probe.py").write_text(PROBE)
    return flash


def _marks(stdout: str) -> dict[str, int]:
    found = {m[1]: int(m[2]) for m in map(_MARK.match, stdout.splitlines()) if m}
    if set(found) != {"base", "code", "boot"}:
        raise RuntimeError(f"the heap probe did not finish; output:\n{stdout[-2000:]}")
    return found


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> dict[str, int]:
    proc = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return _marks(proc.stdout)


def measure(workdir: Path) -> dict[str, dict[str, int]]:
    """{"wasm32": marks, "x64": marks}: the live heap at `base`, `code` and `boot`."""
    node = shutil.which("node")
    if node is None or not WASM32_MODULE.exists():
        raise RuntimeError(
            "the 32-bit MicroPython is not installed: `make benchmark` installs it"
            " (node and npm, into build/wasm32)"
        )
    flash = _flash(workdir)
    x64 = _run(
        [default_binary(), "-X", "heapsize=512K", "probe.py"],
        flash,
        env={"MICROPYPATH": ":.frozen", "PATH": "/usr/bin:/bin"},
    )
    wasm32 = _run([node, str(RUNNER), str(WASM32_MODULE), str(flash), "probe.py"], flash)
    return {"wasm32": wasm32, "x64": x64}


def run(ctx: Any) -> dict[str, float | int]:
    marks = measure(Path(ctx.workdir))
    sizes = {port: m["boot"] - m["base"] for port, m in marks.items()}
    for port, m in marks.items():
        print(
            f"[heap_wasm32] {port}: code {m['code'] - m['base']},"
            f" code + boot objects {m['boot'] - m['base']}"
        )
    return {
        "firmware_heap_boot_bytes_wasm32": sizes["wasm32"],
        "firmware_heap_boot_bytes_x64": sizes["x64"],
        "firmware_heap_ratio_32_64": round(sizes["wasm32"] / sizes["x64"], 3),
    }
