"""Ticks from the app's start for a unix-port process, as on the ESP32.

On the chip `time.ticks_ms()` is `esp_timer_get_time() / 1000` (MicroPython ports/esp32
mphalport.c): it counts from the app's start, and MicroPython's own start (heap, file system,
boot.py, main.py) has used some of it before the firmware's first line. A press that wakes the
board from deep sleep began before tick 0. On the unix port `ticks_ms()` is CLOCK_MONOTONIC, which
counts from the host's boot. The process is therefore started in a Linux time namespace whose
monotonic clock reads a chosen tick at the start (`_timens_exec.py`, inside a user namespace so no
privilege is needed): ticks then behave as on the chip, and asyncio's C task queue, which reads
the port's ticks itself, agrees with them.

- `app_clock_prefix()` (tests running firmware code): the process starts at tick START_MS, as if
  MicroPython's own start had taken that long; a press that woke the board began before it.
- `wake_clock_prefix()` (an emulated board the rig powers on or wakes): tick 0 at the process's
  start, which stands for the wake; the unix port's own start then takes the first ticks.

Where user namespaces are not allowed, the process runs with the host's clock and a warning
says so: a press that wakes an emulated board is then measured from the host's boot.

- `monotonic_offset_ns(pid)`: the other way, from the host: how far a running process's ticks are
  from the host's monotonic clock (the benchmarks put a board's click on the host's clock so).
"""

from __future__ import annotations

import functools
import subprocess
import sys
import warnings
from pathlib import Path

START_MS = 1000  # app_clock_prefix: the tick at which the process starts
_EXEC = Path(__file__).with_name("_timens_exec.py")


def _launcher(start_ms: int) -> list[str]:
    return [sys.executable, "-S", str(_EXEC), str(start_ms)]


@functools.cache
def _available() -> bool:
    """Whether a time namespace can be made here."""
    try:
        probe = subprocess.run([*_launcher(0), "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def app_clock_prefix(start_ms: int = START_MS) -> list[str]:
    """An argv prefix that runs the command with ticks_ms() reading `start_ms` at its start."""
    if not _available():
        warnings.warn(
            "no Linux time namespace (user namespaces not allowed): the unix port's ticks_ms() "
            "counts from the host's boot, not from the app's start as on the ESP32",
            RuntimeWarning,
            stacklevel=2,
        )
        return []
    return _launcher(start_ms)


def wake_clock_prefix() -> list[str]:
    """For a board the rig powers on or wakes at a known instant (a press that wakes it began
    then): tick 0 at the process's start, not before it."""
    return app_clock_prefix(0)


def monotonic_offset_ns(pid: int) -> int:
    """What process `pid`'s CLOCK_MONOTONIC reads ahead of the host's (negative for a process
    started at a tick below the host's monotonic time): its time namespace's offset, from
    /proc/<pid>/timens_offsets (time_namespaces(7)); 0 in the host's own namespace or on a
    kernel without time namespaces. The host's `time.monotonic_ns() + offset` is the process's
    `ticks_ms()` in ns: how a board's ticks are put on the host's clock."""
    try:
        text = Path(f"/proc/{pid}/timens_offsets").read_text()
    except FileNotFoundError:
        if Path(f"/proc/{pid}").exists():
            return 0  # no time namespaces in this kernel
        raise
    for line in text.splitlines():
        name, secs, nsecs = line.split()
        if name == "monotonic":
            return int(secs) * 1_000_000_000 + int(nsecs)
    return 0
