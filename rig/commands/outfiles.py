"""Where a command's outfile goes, and writing it.

Two ways to write, chosen by what the path names (after following symlinks):

* a regular file, or a path that does not exist yet: atomically, through a temporary file next
  to the final file and `os.replace` — a reader never sees half a certificate, and a failure
  leaves the old file as it was. A symlink is followed: its target is replaced, the link stays.
* a FIFO, a character device (/dev/null, /dev/full, a tty), or a descriptor path (/dev/stdout,
  /dev/fd/N, /proc/self/fd/N): written through by opening it for writing, as a shell's `>` does.
  Renaming over such a path would replace the device node or pipe instead of writing to it.

Anything else (a directory, a socket, a block device) is refused. A failed write is a
`CommandError` (ENOSPC on /dev/full, EPIPE from a closed pipe), never a silent exit 0.
"""

from __future__ import annotations

import contextlib
import enum
import os
import stat
import tempfile
from pathlib import Path

from rig.commands.errors import CommandError

# Paths that name an open file descriptor: the file behind it may be regular (a shell's `>`
# redirection), but the descriptor is what the user means, so it is written through.
DESCRIPTOR_PREFIXES = ("/dev/stdout", "/dev/stderr", "/dev/fd/", "/proc/self/fd/")


class WriteMode(enum.Enum):
    ATOMIC = "atomic"  # temporary file + os.replace onto the (symlink-resolved) path
    THROUGH = "through"  # open the existing path for writing


def _names_descriptor(path: Path) -> bool:
    text = str(path)
    if text.startswith(DESCRIPTOR_PREFIXES):
        return True
    parts = path.parts  # /proc/<pid>/fd/<n>
    return len(parts) == 5 and parts[1] == "proc" and parts[3] == "fd"


def plan(path: Path) -> tuple[WriteMode, Path]:
    """How to write `path`, and the path to write (a symlink's target for an atomic write);
    ValueError naming the problem when it cannot be written."""
    if _names_descriptor(path):
        return WriteMode.THROUGH, path
    try:
        status = path.stat()  # follows symlinks: the target decides
    except FileNotFoundError:
        target = Path(os.path.realpath(path))  # a new file, or a dangling symlink's target
        parent = target.parent
        if not parent.is_dir():
            raise ValueError(f"directory {parent} does not exist") from None
        if not os.access(parent, os.W_OK | os.X_OK):
            raise ValueError(f"directory {parent} is not writable") from None
        return WriteMode.ATOMIC, target
    except OSError as exc:  # ENOTDIR, EACCES, ELOOP…
        raise ValueError(exc.strerror or str(exc)) from exc
    mode = status.st_mode
    if stat.S_ISDIR(mode):
        raise ValueError("is a directory")
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode):
        if not os.access(path, os.W_OK):
            raise ValueError("is not writable")
        return WriteMode.THROUGH, path
    if not stat.S_ISREG(mode):
        raise ValueError("is not a regular file, FIFO or character device")
    target = Path(os.path.realpath(path))
    if not os.access(target, os.W_OK):
        raise ValueError("is not writable")
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise ValueError(f"directory {target.parent} is not writable")
    return WriteMode.ATOMIC, target


def outfile_problem(path: Path) -> str | None:
    """Why `path` cannot be written as an outfile, or None when it can."""
    try:
        plan(path)
    except ValueError as exc:
        return str(exc)
    return None


def write_outfile(path: str, data: bytes, private: bool = False) -> None:
    """Write `data` to the outfile `path` (see the module docstring); a private one is created
    0600 so a key is never readable by others, even for a moment."""
    given = Path(path).expanduser()
    try:
        mode, target = plan(given)
    except ValueError as exc:
        raise CommandError(f"unable to write {given}: {exc}") from exc
    if mode is WriteMode.THROUGH:
        _write_through(target, data)
    else:
        _write_atomically(target, data, private)


def _write_through(target: Path, data: bytes) -> None:
    try:
        # O_TRUNC for a descriptor path that leads to a regular file (`> out.json`); devices
        # and FIFOs ignore it. No O_CREAT: the path exists, a vanished one is an error.
        fd = os.open(target, os.O_WRONLY | os.O_TRUNC | os.O_NOCTTY)
    except OSError as exc:
        raise CommandError(f"unable to write {target}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
    except OSError as exc:
        raise CommandError(f"unable to write {target}: {exc.strerror or exc}") from exc


def _write_atomically(target: Path, data: bytes, private: bool) -> None:
    try:
        fd, temporary = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
        )
    except OSError as exc:
        raise CommandError(f"unable to write {target}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as out:
            if not private:
                os.fchmod(out.fileno(), 0o644)
            out.write(data)
            out.flush()
            os.fsync(out.fileno())  # the rename must not land before the data does
        os.replace(temporary, target)
    except BaseException as exc:  # KeyboardInterrupt too: never leave the temporary behind
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(exc, OSError):
            raise CommandError(f"unable to write {target}: {exc.strerror or exc}") from exc
        raise
