"""Where an emulated board's GC heap goes with the network up (issue #3): a breakdown.

`breakdown(flash, peak)` takes the flash of a board that was set up and ran with the network up
(its firmware .mpy files, settings, certificates and Wi-Fi/endpoint configuration) and the heap
peak that board reported, and measures, on the same interpreter, in fresh processes (with a heap
of `PROBE_HEAPSIZE`: live sizes do not depend on the heap's size, and a roomy heap keeps the probe
from failing where the board's own heap is fragmented):

- `interpreter`: a bare interpreter's live heap (`micropython -c`: nothing imported);
- `stdlib`: `asyncio` (and the submodules the firmware touches) and `ssl`: frozen in the unix
  port and in an ESP32 build alike, but importing them builds objects on the GC heap there too;
- `shims`: those of the emulated board's shims that the boot loaded (`_rig`, connected to a side
  channel as on a board, `machine`, `network`, `neopixel`...; `esp32` only comes with deep sleep).
  On a chip these are C modules that cost no GC heap;
- `code`: each firmware module that is still imported after boot (a real `app.App().boot()` on a
  copy of the flash tells which), imported one by one: its bytecode, constants, function and class
  objects and new qstrs. A module's figure includes what it imports first (the order below is
  leaves first, so that is little) and the qstr pool it happened to grow: pools double in size,
  so the split between modules is lumpy, the sum is not;
- `boot`: what the boot itself builds beyond the code (App, settings, detector, LED, services,
  the TLS context with the certificates parsed, MQTT client, outbox), from the same boot run;
- `runtime`: the rest of the reported peak: asyncio tasks and coroutine frames, sockets, the
  TLS session, buffers and the events of the moment it was sampled.

The live heap is sampled after `gc.collect()`, as the firmware does. Sizes are x64 (8-byte
words, 32-byte GC blocks).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from host.deploy import firmware_sources
from host.mpy import compile_module
from host.paths import SHIMS_DIR
from rig.unix_port.binary import default_binary

SHIMS = tuple(sorted(p.stem for p in SHIMS_DIR.glob("*.py")))  # `_rig` first: all use it
# Leaves first, so that a module's figure is mostly its own; any other resident module follows.
IMPORT_ORDER = (
    "events",
    "stall",
    "store",
    "identity",
    "clicks",
    "settings",
    "board",
    "led",
    "button",
    "power",
    "certs",
    "netcfg",
    "app",
    "clock",
    "fault",
    "mqtt",
    "outbox",
    "wifi",
    "configmode",
    "connection",
)
TIMEOUT_S = 60.0
PROBE_HEAPSIZE = "512K"

_PRELUDE = """
import gc, sys, micropython
def mark(stage, name):
    gc.collect()
    print("HEAP %s %s %d" % (stage, name, gc.mem_alloc()))
    micropython.qstr_info()
mark("start", "-")
import asyncio, ssl
asyncio.Event, asyncio.ThreadSafeFlag, asyncio.StreamReader, asyncio.wait_for_ms
mark("stdlib", "asyncio+ssl")
"""

_BOOT = """
import app
app.current = app.App()
app.current.boot()
mark("boot", "-")
print("MODULES " + " ".join(sorted(m for m in sys.modules if m in @FIRMWARE@)))
print("SHIMS " + " ".join(m for m in @SHIMS@ if m in sys.modules))
"""

_CODE = """
for name in @SHIMS@:
    __import__(name)
    mark("shims", name)
for name in @FIRMWARE@:
    __import__(name)
    mark("code", name)
"""

_HEAP_LINE = re.compile(r"^HEAP (\w+) (\S+) (\d+)$")
_QSTR_LINE = re.compile(r"n_total_bytes=(\d+)")


@dataclass
class HeapBreakdown:
    """Live GC heap by owner, in bytes (x64). `modules` and `qstr` detail `code`."""

    peak: int
    interpreter: int
    stdlib: int
    shims: int
    code: int
    boot: int
    modules: dict[str, tuple[int, int]] = field(default_factory=dict)  # (heap, of it qstr pool)
    boot_qstr: int = 0  # of `boot`: qstr pools grown by the boot (modules it loads and drops)
    qstr_total: int = 0  # every qstr pool after boot (interned names and short strings)

    @property
    def qstr(self) -> int:
        """Of `code`: the qstr pools grown for the firmware modules' names and short strings."""
        return sum(q for _, q in self.modules.values())

    @property
    def runtime(self) -> int:
        return self.peak - self.interpreter - self.stdlib - self.shims - self.code - self.boot

    @property
    def firmware_own(self) -> int:
        """The peak less what is not the firmware's: the bare interpreter and the shims."""
        return self.peak - self.interpreter - self.shims

    def table(self) -> str:
        """One line per owner; a firmware module's line also shows the qstr pool growth it
        caused (pools double: the module that overflows one pays for all of the next)."""
        lines = [
            f"{'interpreter':<24}{self.interpreter:>8}",
            f"{'stdlib (asyncio, ssl)':<24}{self.stdlib:>8}",
            f"{'shims':<24}{self.shims:>8}",
            f"{'firmware code':<24}{self.code:>8}   qstr pools {self.qstr}",
            *(f"  {name:<22}{size:>8}{q:>8}" for name, (size, q) in self.modules.items()),
            f"{'boot objects':<24}{self.boot:>8}   qstr pools {self.boot_qstr}",
            f"{'runtime, network up':<24}{self.runtime:>8}",
            f"{'live heap, sample max':<24}{self.peak:>8}",
            f"{'firmware own share':<24}{self.firmware_own:>8}",
            f"{'all qstr pools':<24}{self.qstr_total:>8}",
        ]
        return "\n".join(lines)


@contextlib.contextmanager
def side_channel() -> Iterator[str]:
    """A rig end for `_rig` to connect to: it reads and drops what the shims send, and stays
    open until the board process has ended (`_rig` ends its process when the channel closes)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    stop = threading.Event()
    conns: list[socket.socket] = []

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            conns.append(conn)
            threading.Thread(target=_drain, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        host, port = server.getsockname()
        yield f"{host}:{port}"
    finally:
        stop.set()
        thread.join()
        for conn in conns:
            conn.close()
        server.close()


def _drain(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while conn.recv(4096):
            pass


def run_probe(
    binary: str, flash: Path, micropypath: str, script: str, heapsize: str, name: str
) -> list[str]:
    """Run `script` (written to `flash`/`name`) on the unix port with `flash` as the working
    directory, the given MICROPYPATH and heap, and a side channel for `_rig` to connect to; its
    stdout lines. RuntimeError with its output when it fails."""
    (flash / name).write_text(script)
    with side_channel() as channel:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("BUTTONRIG_")},
            "MICROPYPATH": micropypath,
            "BUTTONRIG_CHANNEL": channel,
        }
        proc = subprocess.run(
            [binary, "-X", f"heapsize={heapsize}", name],
            cwd=flash,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc.stdout.splitlines()


def _run(binary: str, flash: Path, shims: Path, script: str) -> list[str]:
    return run_probe(binary, flash, f":.frozen:{shims}", script, PROBE_HEAPSIZE, "_heap_probe.py")


def _marks(lines: list[str]) -> list[tuple[str, str, int, int]]:
    """(stage, name, live heap, qstr bytes) per mark, from the probe's output."""
    out: list[tuple[str, str, int, int]] = []
    for i, line in enumerate(lines):
        m = _HEAP_LINE.match(line)
        if m:
            q = _QSTR_LINE.search(lines[i + 1]) if i + 1 < len(lines) else None
            out.append((m[1], m[2], int(m[3]), int(q[1]) if q else 0))
    return out


def _bare_interpreter(binary: str) -> int:
    code = "import gc\ngc.collect()\nprint(gc.mem_alloc())"
    out = subprocess.run(
        [binary, "-X", f"heapsize={PROBE_HEAPSIZE}", "-c", code],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=True,
    )
    return int(out.stdout.split()[-1])


def _listed(lines: list[str], key: str) -> list[str]:
    return next(ln.split()[1:] for ln in lines if ln.split()[:1] == [key])


def breakdown(flash: Path, peak: int, binary: str | None = None) -> HeapBreakdown:
    """Attribute `peak` (a board's reported network-up peak) for the board whose flash is `flash`
    (left unchanged: the probes run on a copy)."""
    binary = binary or default_binary()
    firmware_names = {p.stem for p in firmware_sources()} | {"board"}
    with tempfile.TemporaryDirectory(prefix="heap-breakdown-") as tmp:
        shims = Path(tmp) / "shims"
        for src in SHIMS_DIR.glob("*.py"):
            compile_module(src, shims / f"{src.stem}.mpy")
        copy = Path(tmp) / "flash"
        shutil.copytree(flash, copy)
        boot = _BOOT.replace("@FIRMWARE@", repr(firmware_names)).replace("@SHIMS@", repr(SHIMS))
        boot_lines = _run(binary, copy, shims, _PRELUDE + boot)
        resident = _listed(boot_lines, "MODULES")
        order = [m for m in IMPORT_ORDER if m in resident]
        order += sorted(set(resident) - set(order))
        shims_loaded = _listed(boot_lines, "SHIMS")  # e.g. esp32 only comes with deep sleep
        shutil.rmtree(copy)
        shutil.copytree(flash, copy)  # the boot may have written files (recovery, outbox)
        code = _CODE.replace("@SHIMS@", repr(shims_loaded)).replace("@FIRMWARE@", repr(order))
        code_lines = _run(binary, copy, shims, _PRELUDE + code)
    boot_marks = {stage: (heap, q) for stage, _, heap, q in _marks(boot_lines)}
    marks = _marks(code_lines)
    # each process's figures are taken from its own start (the probe scripts differ in size)
    by_stage: dict[str, int] = {}
    modules: dict[str, tuple[int, int]] = {}
    prev_heap, prev_q = marks[0][2], marks[0][3]
    for stage, name, heap, q in marks[1:]:
        by_stage[stage] = by_stage.get(stage, 0) + heap - prev_heap
        if stage == "code":
            modules[name] = (heap - prev_heap, q - prev_q)
        prev_heap, prev_q = heap, q
    code_end = marks[-1][2]
    return HeapBreakdown(
        peak=peak,
        interpreter=_bare_interpreter(binary),
        stdlib=by_stage.get("stdlib", 0),
        shims=by_stage.get("shims", 0),
        code=by_stage.get("code", 0),
        boot=(boot_marks["boot"][0] - boot_marks["start"][0]) - (code_end - marks[0][2]),
        modules=modules,
        boot_qstr=(boot_marks["boot"][1] - boot_marks["start"][1]) - (marks[-1][3] - marks[0][3]),
        qstr_total=boot_marks["boot"][1],
    )


METRICS = (
    "firmware_heap_network_own_bytes",
    "heap_network_interpreter_bytes",
    "heap_network_stdlib_bytes",
    "heap_network_shims_bytes",
    "heap_network_code_bytes",
    "heap_network_boot_bytes",
    "heap_network_runtime_bytes",
)


def metrics(b: HeapBreakdown) -> dict[str, int]:
    return {
        "firmware_heap_network_own_bytes": b.firmware_own,
        "heap_network_interpreter_bytes": b.interpreter,
        "heap_network_stdlib_bytes": b.stdlib,
        "heap_network_shims_bytes": b.shims,
        "heap_network_code_bytes": b.code,
        "heap_network_boot_bytes": b.boot,
        "heap_network_runtime_bytes": b.runtime,
    }


if __name__ == "__main__":  # python -m rig.benchmarks._heap FLASH PEAK
    import sys

    args = sys.argv[1:]
    result = breakdown(Path(args[0]), int(args[1]))
    print(result.table())
    print(json.dumps(metrics(result)))
