"""Blocking C calls: a DNS lookup, the TLS handshake, a flash write.

On the ESP32 a pin IRQ only schedules its handler, and nothing scheduled runs until such a call
returns (docs/esp32-differences.md "Pin interrupts"). A handler that runs inside or just after one
may stand for an edge that came at any instant of it: the button asks `late()` and then does not
take the handler's time for the edge's. Code that makes such a call brackets it:

    stall.begin()
    try:
        socket.getaddrinfo(...)
    finally:
        stall.end()

A press that began before such a call and a release inside it are read as the call returns, so a
gesture cut in two by a call is misread (the second press of a double, read late, is a second
SINGLE). Code about to make one that can wait first awaits `quiet()`.
"""

import asyncio
import time

# CPython runs store.py in the tests: no ticks there, and no blocking call to date
_ticks_ms = getattr(time, "ticks_ms", lambda: 0)
_ticks_diff = getattr(time, "ticks_diff", lambda a, b: a - b)

_open = 0  # calls begun and not yet ended (nested brackets count once each)
_ended = None  # ticks when the last one ended
_deciding = None  # the button's: true while a gesture's kind is not yet decided


def watch(deciding):
    """The button registers how to tell that a gesture is being decided."""
    global _deciding
    _deciding = deciding


async def quiet(limit_ms=8000):
    """Wait until no gesture is being decided (at most `limit_ms`). A press held past its LONG is
    decided: the connect goes on while it is held. A gesture that begins inside the call cannot
    be helped."""
    t0 = _ticks_ms()
    while _deciding is not None and _deciding() and _ticks_diff(_ticks_ms(), t0) < limit_ms:
        await asyncio.sleep_ms(20)  # type: ignore[attr-defined]


def begin():
    global _open
    _open += 1


def end():
    global _open, _ended
    if _open:
        _open -= 1
    _ended = _ticks_ms()


def late(now, window_ms):
    """A handler running at `now` may have been held back: a blocking call runs (it returned and
    the VM ran the handler before `end()`), or one ended less than `window_ms` ago."""
    return _open > 0 or (_ended is not None and _ticks_diff(now, _ended) <= window_ms)
