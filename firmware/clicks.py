"""Click detector: a pure state machine from raw button levels to SINGLE / DOUBLE / LONG.

No I/O, no sleeping: the caller feeds raw samples (level, ticks_ms) and polls at deadline().
Runs unchanged on CPython and MicroPython. Times are ticks_ms values; all arithmetic wraps like
time.ticks_diff (on CPython a 2**30 period, as on the ESP32).

Semantics:
- Debounce. A raw change starts a burst at its first edge. The change counts once the raw level
  has stayed away from the stable level for debounce_ms after the burst's LAST edge; its time is
  the burst's FIRST edge. If the raw level comes back to the stable level and stays there for
  debounce_ms, the burst was a glitch and is ignored. A sample repeating the current raw level
  (an IRQ that read the final level late) is ignored.
- LONG: a first press held >= long_ms (release edge - press edge) gives LONG, decided at
  press + long_ms (or when the press is confirmed, if that is later). The gesture ends at release.
- DOUBLE: released before long_ms, and the next press starts < double_ms after the release: DOUBLE,
  decided when that second press is confirmed. The gesture ends at its release, whatever its
  length (no LONG after a DOUBLE).
- SINGLE: otherwise, decided at release + double_ms (or when the release is confirmed, if later).
- A threshold that falls inside an unresolved burst waits for it: a glitch there delays the
  decision to the glitch's end (last edge + debounce_ms). Thresholds due at the time of a sample
  are decided before the sample is applied.
- Exactly one event per gesture. configure() takes effect from the next gesture: at once when
  idle, otherwise when the detector next becomes idle.
- poll(t) returns one decided event per call (call it until None); `decided_at` is its time.
"""

import time

try:
    from micropython import const
except ImportError:  # CPython runs this module in the tests
    const = int

_MASK = const((1 << 30) - 1)
_HALF = const(1 << 29)


def _wrap_diff(a, b):  # CPython: the ESP32's 2**30 ticks period
    return ((a - b + _HALF) & _MASK) - _HALF


def _wrap_add(a, b):
    return (a + b) & _MASK


# platform adaptation, chosen once: MicroPython's own ticks arithmetic where it exists
diff = getattr(time, "ticks_diff", _wrap_diff)
add = getattr(time, "ticks_add", _wrap_add)


_IDLE = const(0)  # released, nothing in progress
_DOWN = const(1)  # first press held: LONG pending
_UP = const(2)  # released after a short press: SINGLE / DOUBLE pending
_HELD = const(3)  # event decided, waiting for the release that ends the gesture


class ClickDetector:
    def __init__(self, debounce_ms=50, double_ms=400, long_ms=1500):
        self._cfg = (debounce_ms, double_ms, long_ms)
        self._pending = None
        self._stable = False
        self._raw = False
        self._raw_t = 0
        self._burst = None  # first edge of the unresolved burst
        self._state = _IDLE
        self._t0 = 0  # press time (_DOWN) or release time (_UP)
        self._press_t = 0
        self._queue = []
        self.decided_at = None

    def configure(self, debounce_ms=None, double_ms=None, long_ms=None):
        cur = self._pending or self._cfg
        self._pending = (
            cur[0] if debounce_ms is None else debounce_ms,
            cur[1] if double_ms is None else double_ms,
            cur[2] if long_ms is None else long_ms,
        )
        self._apply_pending()

    def timings(self):
        """(debounce_ms, double_ms, long_ms) in force for the current gesture."""
        return self._cfg

    def feed(self, pressed, t):
        self._advance(t)
        level = bool(pressed)
        if level == self._raw:
            return
        if self._burst is None:
            self._burst = t
        self._raw = level
        self._raw_t = t

    def confirmed_press(self, t):
        """A press known to be real began at `t`: it counts at once, without debouncing. The
        press that woke the chip is one (ext0 is level-triggered, and the boot outlasts any
        bounce): debounced from `t`, a release soon after the firmware's first look would make
        it a glitch."""
        self._advance(t)
        self._raw = True
        self._raw_t = t
        self._burst = None
        if not self._stable:
            self._stable = True
            self._change(t, t)

    def poll(self, t):
        self._advance(t)
        if self._queue:
            kind, self.decided_at = self._queue.pop(0)
            return kind
        return None

    def deadline(self):
        if self._queue:
            return self._queue[0][1]
        due = self._due()
        return None if due is None else due[0]

    def idle(self):
        return self._state == _IDLE and self._burst is None and not self._queue

    def deciding(self):
        """A gesture whose kind is not yet decided (a press held past its LONG is decided)."""
        return self._state == _DOWN or self._state == _UP or self._burst is not None or self._queue

    def held_since(self):
        """Time of the press being held now (debounced), or None when released."""
        return self._press_t if self._stable else None

    # --- internals ---

    def _due(self):
        """(time, is_threshold) of the next internal step, or None."""
        resolve = None if self._burst is None else add(self._raw_t, self._cfg[0])
        limit = None
        if self._state == _DOWN:
            limit = add(self._t0, self._cfg[2])
        elif self._state == _UP:
            limit = add(self._t0, self._cfg[1])
        if limit is not None and self._burst is not None and diff(self._burst, limit) < 0:
            limit = None  # a burst began before the threshold: its outcome decides
        if limit is None:
            return None if resolve is None else (resolve, False)
        if resolve is None or diff(limit, resolve) <= 0:
            return (limit, True)
        return (resolve, False)

    def _advance(self, t):
        prev = None
        while True:
            due = self._due()
            if due is None or diff(due[0], t) > 0:
                return
            at = due[0]
            if prev is not None and diff(prev, at) > 0:
                at = prev  # a threshold that waited for a burst is decided when it resolved
            prev = at
            if due[1]:
                if self._state == _DOWN:
                    self._decide("LONG", at)
                    self._state = _HELD
                else:
                    self._decide("SINGLE", at)
                    self._state = _IDLE
            else:
                first = self._burst
                self._burst = None
                if self._raw != self._stable:
                    self._stable = self._raw
                    self._change(first, at)
            self._apply_pending()

    def _change(self, first, at):
        state = self._state
        if self._stable:
            self._press_t = first
            if state == _IDLE:
                self._state = _DOWN
                self._t0 = first
            elif state == _UP:  # the press began inside the double window
                self._decide("DOUBLE", at)
                self._state = _HELD
        elif state == _DOWN:  # released before long_ms
            self._state = _UP
            self._t0 = first
        elif state == _HELD:
            self._state = _IDLE

    def _decide(self, kind, at):
        self._queue.append((kind, at))

    def _apply_pending(self):
        if self._pending is not None and self._state == _IDLE and self._burst is None:
            self._cfg = self._pending
            self._pending = None
