# Keeps the emulated board clear of a unix-port interpreter bug (not on the chip).
#
# extmod/modselect.c with MICROPY_PY_SELECT_POSIX_OPTIMISATIONS (built on the unix port only, not
# on the ESP32): when a poll object's pollfd array has to move to grow (every 4th descriptor, when
# it cannot grow in place), the pointer of *every* registered object is rebased into the new
# array, including objects without a file descriptor, whose pointer is NULL. Such an object
# (asyncio.ThreadSafeFlag: the button's IRQ flag, waited on by the button task) then holds a wild
# pointer and the next poll dies with SIGSEGV. It took four connections to the config page: the
# listening socket + 4 = 5 descriptors. Reproducer and evidence: docs/connectivity-integration.md
# "Known issues".
#
# The array only moves when it grows, so asyncio's poller gets room for SLOTS descriptors now,
# while nothing without a descriptor is registered. More than SLOTS at once would need more room;
# the chip's lwIP allows fewer sockets than that (10-16) and the firmware bounds its connections.
from micropython import const

SLOTS = 16
_FIRST_FD = const(1 << 20)  # any int: registered and unregistered at once, never polled


# Top-level code, not a function: it runs once, at import, and is freed once the import is done.
from asyncio import core  # noqa: E402

_poller = core._io_queue.poller
for _i in range(SLOTS):
    _poller.register(_FIRST_FD + _i, 1)
for _i in range(SLOTS - 1, -1, -1):  # last first: the array's used length returns to 0
    _poller.unregister(_FIRST_FD + _i)
del core, _poller, _i
