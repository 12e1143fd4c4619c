"""Ticks from the app's start for a unix-port process, as on the ESP32.

On the chip `time.ticks_ms()` is `esp_timer_get_time() / 1000` (MicroPython ports/esp32
mphalport.c): it counts from the app's start, and MicroPython's own start (heap, file system,
boot.py, main.py) has used some of it before the firmware's first line. A press that wakes the
board from deep sleep began before tick 0. On the unix port `ticks_ms()` is CLOCK_MONOTONIC, which
counts from the host's boot. The process is therefore started in a Linux time namespace
(`unshare --time`, inside a user namespace so no privilege is needed) whose monotonic clock reads
BOOT_S seconds and a fraction at the start: ticks then behave as on the chip, and asyncio's C task
queue, which reads the port's ticks itself, agrees with them.

Where user namespaces are not allowed, the process runs with the host's clock and a warning
says that a press that wakes an emulated board is then measured from the host's boot.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import time
import warnings

BOOT_S = 1  # tick 0 comes 1-2 s before the process starts (offsets are whole seconds)


@functools.cache
def _unshare() -> str | None:
    """The unshare binary when it may make a time namespace here, else None."""
    path = shutil.which("unshare")
    if path is None:
        return None
    try:
        probe = subprocess.run(
            [path, "--user", "--map-root-user", "--time", "--monotonic=0", "true"],
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return path if probe.returncode == 0 else None


def app_clock_prefix() -> list[str]:
    """An argv prefix that runs the command with ticks counted from about BOOT_S s before it."""
    path = _unshare()
    if path is None:
        warnings.warn(
            "no Linux time namespace (unshare --user --time): the unix port's ticks_ms() counts "
            "from the host's boot, not from the app's start as on the ESP32",
            RuntimeWarning,
            stacklevel=2,
        )
        return []
    offset = max(0, int(time.monotonic()) - BOOT_S)
    return [path, "--user", "--map-root-user", "--time", f"--monotonic=-{offset}"]
