"""`emulation_heap_bytes`: the GC heap the emulated board's shims hold, which a chip does not.

The shims (boards/emulated/shims/*.py: `machine`, `network`, `esp32`, `socket`, `time`, `os`,
`errno`, `neopixel` and their helpers `_rig`, `_sched`, `_pollfix`, `_tlsclock`) stand in for C
modules whose code and tables live in flash on an ESP32 and take no GC heap there. On the unix
port they are Python (loaded as `.mpy`, as an emulated board loads them) and their module
objects, functions, classes, dicts, constants and qstrs stay on the GC heap for the life of the
process. So they are part of what `firmware_min_heap_kb` (`min_heap`) measures, but not part of
a chip's heap: that figure is this much higher than the firmware alone would need.

Measured: the resident live heap (`gc.mem_alloc()` after `gc.collect()`) that importing every
shim a booted board imports adds, on the x64 unix port (8-byte words, 32-byte GC blocks), in
dependency order, with `_rig` connected to a side channel as on a board (a board that boots,
connects with TLS, shows its LED and sleeps loads them all; `esp32` comes with deep sleep). The
firmware is not imported, but the names it uses (`USED`) are looked up and what a configured
board's session makes (`MADE`: the station) is made; the shims are found by the relative path a
board uses (each module's path is a qstr). The stdlib modules the shims touch (`asyncio`,
`ssl`: built-in on the chip too) are imported first, without the shims on the path, and are not
counted; nor is the bare interpreter. The per-shim split is printed (a
module's figure includes the qstr pool it happened to grow: pools double, so the split is
lumpy, the total is not). The figure is the median of `RUNS` probes.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from host.mpy import compile_module
from host.paths import SHIMS_DIR
from rig.benchmarks._heap import run_probe
from rig.unix_port.binary import default_binary

METRICS = ("emulation_heap_bytes",)

# Leaves first, so that each shim's figure is mostly its own.
IMPORT_ORDER = (
    "errno",
    "os",
    "time",
    "socket",
    "_rig",
    "_sched",
    "_pollfix",
    "_tlsclock",
    "machine",
    "network",
    "esp32",
    "neopixel",
)
# What the firmware reaches for in the `min_heap` session (boot, config page, connect with TLS,
# clicks, LED, battery, clock, deep sleep; not machine.Timer, which only a trial boot after an
# OTA update uses): each is looked up after the imports, so that a shim
# that loads part of itself only when asked (a module `__getattr__`) is measured with what a
# session asks for. A shim's module-level names not listed here are not looked up.
USED = {
    "errno": ("ECONNABORTED", "ECONNRESET", "EINPROGRESS"),
    "os": ("listdir", "mkdir", "remove", "rename", "stat", "urandom"),
    "time": ("gmtime", "sleep_ms", "ticks_add", "ticks_diff", "ticks_ms", "time", "time_ns"),
    "socket": ("AF_INET", "SOCK_DGRAM", "SOCK_STREAM", "getaddrinfo", "socket"),
    "machine": (
        "ADC",
        "DEEPSLEEP_RESET",
        "Pin",
        "RTC",
        "deepsleep",
        "reset",
        "reset_cause",
        "unique_id",
        "wake_reason",
    ),
    "network": ("AP_IF", "STA_IF", "STAT_GOT_IP", "WLAN"),
    "esp32": ("wake_on_ext0",),
    "neopixel": ("NeoPixel",),
}
# What the session makes after the lookups (a shim may load an interface's emulation when one is
# made): a configured board's station; a blank board's config mode makes the AP instead.
MADE = {"network": "m.WLAN(m.STA_IF).active(True)"}
HEAPSIZE = "1M"  # live sizes do not depend on the heap's size
RUNS = 5

_SCRIPT = """
import gc, sys, micropython
def live():
    gc.collect()
    return gc.mem_alloc()
import asyncio, ssl
asyncio.Event, asyncio.ThreadSafeFlag, asyncio.StreamReader, asyncio.wait_for_ms
sys.path.append(@SHIMS@)
used = @USED@
made = @MADE@
start = prev = live()
micropython.qstr_info()
for name in @ORDER@:
    m = __import__(name)
    for attr in used.get(name, ()):
        getattr(m, attr)
    if name in made:
        exec(made[name], {"m": m})
    now = live()
    print("SHIM %s %d" % (name, now - prev))
    prev = now
print("TOTAL %d" % (prev - start))
micropython.qstr_info()
"""
_LINE = re.compile(r"^(SHIM|TOTAL) ?(\S*) (\d+)$")
_QSTR = re.compile(r"n_qstr=(\d+),.* n_total_bytes=(\d+)")


def shim_heap(workdir: Path, binary: str | None = None) -> dict[str, int]:
    """Each shim's resident heap in import order, and `total`, in bytes; of the total, the qstr
    pools' growth (`qstr_pool_bytes`: interned names and short strings, and the empty room of
    any pool the shims opened) and the number of qstrs (`qstrs`)."""
    # laid out as an emulated board's (rig/drivers/emulated.py): the flash is the working
    # directory and the shims are found by the same relative path, which each module's
    # `__file__` qstr holds
    shims = workdir / "shims-mpy"
    flash = workdir / "flash"
    flash.mkdir(parents=True, exist_ok=True)
    for src in SHIMS_DIR.glob("*.py"):
        compile_module(src, shims / f"{src.stem}.mpy")
    missing = set(IMPORT_ORDER) - {p.stem for p in SHIMS_DIR.glob("*.py")}
    if missing:
        raise RuntimeError(f"IMPORT_ORDER names shims that do not exist: {sorted(missing)}")
    script = _SCRIPT.replace("@SHIMS@", repr(os.path.relpath(shims, flash)))
    script = script.replace("@ORDER@", repr(IMPORT_ORDER)).replace("@USED@", repr(USED))
    script = script.replace("@MADE@", repr(MADE))
    # the stdlib first, without the shims (see above)
    lines = run_probe(binary or default_binary(), flash, ":.frozen", script, HEAPSIZE, "probe.py")
    out: dict[str, int] = {}
    for line in lines:
        m = _LINE.match(line)
        if m:
            out[m[2] or "total"] = int(m[3])
    pools = [(int(m[1]), int(m[2])) for m in map(_QSTR.search, lines) if m]
    if len(pools) == 2:
        out["qstrs"] = pools[1][0] - pools[0][0]
        out["qstr_pool_bytes"] = pools[1][1] - pools[0][1]
    if "total" not in out:
        raise RuntimeError("shim heap probe printed no total:\n" + "\n".join(lines))
    return out


def run(ctx: Any) -> dict[str, int]:
    # The side channel's reader thread allocates while it waits (a few hundred bytes, depending
    # on when a collection finds it): the median of RUNS probes.
    probes = sorted((shim_heap(Path(ctx.workdir)) for _ in range(RUNS)), key=lambda s: s["total"])
    sizes = probes[len(probes) // 2]
    print("  ".join(f"{name} {size}" for name, size in sizes.items()), flush=True)
    return {"emulation_heap_bytes": sizes["total"]}
