"""Button input: Pin IRQ on both edges → preallocated ring of (level, ticks_ms) → ClickDetector.

The IRQ handler allocates nothing: it writes into an array and a bytearray and sets a
ThreadSafeFlag. An asyncio task drains the ring into the detector, sleeps until the detector's
next deadline (or the next edge) and hands decided clicks to `on_click(kind, t)`. A full ring
counts lost edges and reports them as an `input` event; the detector is then resynchronised with
the pin's current level.
"""

import asyncio
from array import array
from time import ticks_add, ticks_diff, ticks_ms

import events
import stall
from micropython import const

_RING = const(64)  # edges buffered between two drains (a bouncy gesture makes about 10)


class Button:
    LONG_HOLD_MS = 6000  # a hold this long is reported to on_long_hold (config access point)

    def __init__(self, pin, active_low, detector, on_click, on_long_hold=None):
        self.pin = pin
        self.active_low = active_low
        self.detector = detector
        self._on_click = on_click
        self._on_long_hold = on_long_hold
        # "l" = C long: 32 bits on the ESP32 (ticks are 30), 64 on the unix port. Not "q": its
        # items come back as long ints that ticks_add/ticks_diff mishandle on the unix port.
        self._t = array("l", [0] * _RING)
        self._lv = bytearray(_RING)
        self._w = 0
        self._r = 0
        self.lost = 0
        self._flag = asyncio.ThreadSafeFlag()  # type: ignore[attr-defined]
        self._hold_reported = None  # press time whose long hold was reported
        self._irq_cb = self._irq  # bound method made once: no allocation per edge
        self._last_lv = 1  # level and time of the last ring entry
        self._last_t = 0

    def start(self):
        """Enable the IRQ (both edges)."""
        pin = self.pin
        pin.irq(handler=self._irq_cb, trigger=pin.IRQ_FALLING | pin.IRQ_RISING)
        stall.watch(self.deciding)  # blocking calls wait for the gesture being decided
        self._put(pin.value(), ticks_ms())  # the level now (a repeat is ignored): no edge lost

    def idle(self):
        """No edge waiting in the ring and no gesture in progress."""
        return self._r == self._w and self.detector.idle()

    def deciding(self):
        """Edges waiting in the ring, or a gesture whose kind is not yet decided."""
        return self._r != self._w or self.detector.deciding()

    def pressed(self):
        return (self.pin.value() == 0) == self.active_low

    def seed_press(self, t_press):
        """The board woke on this button: the press began at `t_press` (tick 0, the app's start,
        or before). Still held: it is measured from there. Released before the firmware could
        look: a tap (its end is unknown). It is not debounced: it held long enough to wake the
        chip, and a release soon after tick 0 must not make it a glitch."""
        det = self.detector
        det.confirmed_press(t_press)
        if not self.pressed():
            det.feed(False, t_press)

    def _irq(self, pin):
        # A soft IRQ (the only kind on the ESP32): it reads the time and level when it runs, which
        # after a blocking C call (DNS, TLS handshake, flash write) is long after its edge.
        now = ticks_ms()
        lv = pin.value()
        pulse = self.detector.timings()[0] + 1
        if lv == self._last_lv and ticks_diff(now, self._last_t) > pulse:
            # It reads the level the previous callback read: it stands for two edges or more (a
            # press and its release, held back together). Keep that press, one debounce long.
            self._put(1 - lv, ticks_add(now, -pulse))
        elif (lv == 0) == self.active_low and stall.late(now, pulse):
            # A press held back by a blocking call began at some instant inside it, not now: a
            # release soon after the call must not make it a glitch. One debounce long at least.
            back = min(pulse, ticks_diff(now, self._last_t) - 1)  # after the ring's last entry
            if back > 0:
                now = ticks_add(now, -back)
        self._put(lv, now)
        self._flag.set()

    def _put(self, lv, t):
        w = self._w
        n = (w + 1) % _RING
        if n == self._r:
            self.lost += 1
            return
        self._t[w] = t
        self._lv[w] = lv
        self._w = n
        self._last_lv = lv
        self._last_t = t

    def _drain(self):
        det = self.detector
        low = self.active_low
        r = self._r
        while r != self._w:
            det.feed((self._lv[r] == 0) == low, self._t[r])
            r = (r + 1) % _RING
            self._r = r
        if self.lost:
            lost = self.lost
            self.lost = 0
            events.emit("input", overflow=lost)
            det.feed(self.pressed(), ticks_ms())

    def _hold_deadline(self):
        since = self.detector.held_since()
        if since is None or since == self._hold_reported or self._on_long_hold is None:
            return None
        return ticks_add(since, self.LONG_HOLD_MS)

    async def run(self):
        det = self.detector
        while True:
            self._drain()
            now = ticks_ms()
            while True:
                kind = det.poll(now)
                if kind is None:
                    break
                self._on_click(kind, det.decided_at)
            hold = self._hold_deadline()
            if hold is not None and ticks_diff(now, hold) >= 0:
                self._hold_reported = det.held_since()
                self._on_long_hold(ticks_diff(now, self._hold_reported))  # type: ignore[misc]
                hold = None
            wake = det.deadline()
            if hold is not None and (wake is None or ticks_diff(hold, wake) < 0):
                wake = hold
            if wake is None:
                await self._flag.wait()
                continue
            wait = ticks_diff(wake, ticks_ms())
            if wait > 0:
                try:
                    await asyncio.wait_for_ms(self._flag.wait(), wait)  # type: ignore[attr-defined]
                except asyncio.TimeoutError:
                    pass
