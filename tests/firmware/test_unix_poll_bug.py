"""The unix port's select.poll bug that crashed the emulated board's config page, and the shim
that keeps emulated boards clear of it (boards/emulated/shims/_pollfix.py).

extmod/modselect.c (MICROPY_PY_SELECT_POSIX_OPTIMISATIONS, unix port only): when the poller's
pollfd array moves to grow, objects without a file descriptor (asyncio.ThreadSafeFlag, the
button's IRQ flag) get a wild pointer and the next poll dies with SIGSEGV. The control run shows
the interpreter still has the bug (if it fails, the interpreter was fixed and the shim can go).
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from host.paths import SHIMS_DIR
from rig.unix_port.binary import default_binary

# The firmware's situation: the button task waits on a ThreadSafeFlag, the page's connections
# are sockets in the same (asyncio's) poller. `objects` allocated after each registration keep
# the array from growing in place, as the firmware's heap does.
SCRIPT = """
import asyncio, socket
from asyncio import core
%s
poller = core._io_queue.poller
poller.register(asyncio.ThreadSafeFlag(), 1)
objects = []
for _ in range(%d):
    s = socket.socket()
    poller.register(s, 1)
    objects.append((s, bytearray(64)))
poller.poll(0)
print("alive", len(objects))
"""


def run(
    tmp_path: Path, prelude: str, sockets: int, shims: bool = True
) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "poll_bug.py"
    script.write_text(SCRIPT % (prelude, sockets))
    env = {**os.environ, "MICROPYPATH": f".frozen:{SHIMS_DIR}" if shims else ".frozen"}
    env.pop("BUTTONRIG_CHANNEL", None)  # the shims without a rig: no side channel
    return subprocess.run(
        [default_binary(), str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_interpreter_crashes_when_the_poller_grows_past_a_flag(tmp_path: Path) -> None:
    # the unix port's own sockets (the shims' socket is polled through its ioctl, as an ESP32's,
    # so it never enters the pollfd array either)
    got = run(tmp_path, "", 5, shims=False)  # 5 sockets: the array grows from 4 to 8 entries
    assert got.returncode == -signal.SIGSEGV, (
        "the unix port no longer crashes here: modselect.c was fixed, "
        f"boards/emulated/shims/_pollfix.py can go (exit {got.returncode}, {got.stdout!r})"
    )


def test_the_shims_presize_the_poller_so_it_never_moves(tmp_path: Path) -> None:
    import_shim = "import machine  # the emulated board's shim: pre-sizes asyncio's poller"
    got = run(tmp_path, import_shim, 16)
    assert got.returncode == 0 and got.stdout.split() == ["alive", "16"], (
        got.returncode,
        got.stdout,
        got.stderr[-2000:],
    )
