"""Run a command in a new time namespace whose CLOCK_MONOTONIC reads START_MS now.

    python -S _timens_exec.py START_MS COMMAND [ARG...]

A helper of rig/unix_port/app_clock.py, run as a script (no repository imports, so it starts in
a few ms). It makes a user namespace (so no privilege is needed) and a time namespace, sets the
monotonic offset to the nanosecond through /proc/self/timens_offsets (unshare(1) takes whole
seconds only), and execs the command in place: same process, and it enters the time namespace.
"""

import ctypes
import os
import sys
import time

CLONE_NEWUSER = 0x10000000
CLONE_NEWTIME = 0x00000080


def main() -> None:
    start_ms = int(sys.argv[1])
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWTIME) != 0:
        sys.exit(f"_timens_exec: unshare: {os.strerror(ctypes.get_errno())}")
    secs, nsec = divmod(start_ms * 1_000_000 - time.monotonic_ns(), 1_000_000_000)
    with open("/proc/self/timens_offsets", "w") as offsets:
        offsets.write(f"monotonic {secs} {nsec}\n")
    os.execvp(sys.argv[2], sys.argv[2:])


if __name__ == "__main__":
    main()
