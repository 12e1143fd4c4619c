# `os` (and the built-in `open`) for the emulated board: the unix port's, with the ESP32's flash
# writes as blocking C calls (docs/esp32-differences.md "Pin interrupts").
#
# On the chip the filesystem is LittleFS on the flash partition: a file write, rename or remove
# ends in esp32.Partition's writeblocks/ioctl, i.e. esp_partition_erase_range and
# esp_partition_write (ports/esp32 esp32_partition.c; extmod/vfs_lfsx.c calls them from C). No
# scheduled callback runs meanwhile (_sched). Here the emulated flash is a host directory, written
# in microseconds, so each operation also blocks for the chip's time:
# - a file written and closed: BUTTONRIG_FLASH_WRITE_MS, default 45 ms, one 4 KB sector erase
#   (typical tSE of SPI NOR flash, e.g. the Winbond W25Q32JV datasheet; max 400 ms) before its
#   data is programmed: LittleFS puts a file larger than its inline limit (its cache, 4 x the
#   program size, extmod/vfs_lfsx.c) in a block of its own and erases that block first;
# - rename, remove, mkdir, rmdir: BUTTONRIG_FLASH_COMMIT_MS, default 5 ms, one metadata commit
#   (a few page programs, typically 0.4 ms each, up to 3 ms).
# Not modelled: LittleFS's occasional metadata compaction (another erase), and the worst cases.
import sys

_p = sys.path
sys.path = []
import os as _os  # noqa: E402  (the built-in, not this file)

sys.path = _p
del _p

for _n in dir(_os):
    if not _n.startswith("__"):
        globals()[_n] = getattr(_os, _n)

import builtins  # noqa: E402
import io  # noqa: E402

from micropython import const  # noqa: E402

_WRITE_DEFAULT_MS = const(45)
_COMMIT_DEFAULT_MS = const(5)
_ms = {}  # env name -> figure, read once (after the shims are loaded: _sched imports this)


def _block(name, default):
    import _sched  # not at import: _sched imports `time`, which imports this module

    if name not in _ms:
        _ms[name] = _sched.figure(name, default)
    _sched.blocking(_ms[name])


def _commit(fn):
    def op(*a):
        try:
            return fn(*a)
        finally:
            _block("BUTTONRIG_FLASH_COMMIT_MS", _COMMIT_DEFAULT_MS)

    return op


rename = _commit(_os.rename)
remove = _commit(_os.remove)
mkdir = _commit(_os.mkdir)
rmdir = _commit(_os.rmdir)


class _FlashFile(io.IOBase):
    # A file opened for writing: its data reach the flash, and block, when it is closed.
    def __init__(self, f):
        self._f = f
        self._written = False

    def write(self, data):
        self._written = True
        return self._f.write(data)

    def readinto(self, buf):
        return self._f.readinto(buf)

    def read(self, *a):
        return self._f.read(*a)

    def flush(self):
        return self._f.flush()

    def seek(self, *a):
        return self._f.seek(*a)

    def tell(self):
        return self._f.tell()

    def ioctl(self, _req, _arg):
        return 0

    def close(self):
        f = self._f
        if f is None:
            return
        self._f = None
        f.close()
        if self._written:
            _block("BUTTONRIG_FLASH_WRITE_MS", _WRITE_DEFAULT_MS)

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()


_open = builtins.open


def _flash_open(file, mode="r", *a, **kw):
    f = _open(file, mode, *a, **kw)
    if isinstance(file, str) and ("w" in mode or "a" in mode or "+" in mode or "x" in mode):
        return _FlashFile(f)
    return f


builtins.open = _flash_open
