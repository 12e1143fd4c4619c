# ruff: noqa: ARG002  (signatures mirror the ESP32 API; unmodelled arguments are ignored)
# The parts of the emulated board's `machine` that no session of the firmware uses, loaded by the
# `machine` shim when first asked for (machine.WDT, ...): on a chip they are in flash, here they
# would otherwise sit on the GC heap for the life of the process.
import _thread
import time

import _rig
import _sched

_freq = 160000000


class Timer:
    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, id=-1, **kw):
        self._id = id
        self._gen = 0
        if kw:
            self.init(**kw)

    def init(self, mode=PERIODIC, period=-1, callback=None, freq=-1):
        if freq > 0:
            period = 1000 // freq
        if period < 0:
            raise ValueError("period")
        self._gen += 1
        _thread.start_new_thread(self._run, (self._gen, mode, max(1, period), callback))

    def deinit(self):
        self._gen += 1

    def _run(self, gen, mode, period, callback):
        deadline = time.ticks_add(time.ticks_ms(), period)
        while True:
            time.sleep_ms(max(0, time.ticks_diff(deadline, time.ticks_ms())))
            if gen != self._gen:
                return
            if callback:
                _sched.schedule(callback, self)  # a soft IRQ, as on the ESP32
            if mode != Timer.PERIODIC:
                return
            deadline = time.ticks_add(deadline, period)


class WDT:
    def __init__(self, id=0, timeout=5000):
        self._timeout = timeout
        self._fed = time.ticks_ms()
        _thread.start_new_thread(self._watch, ())

    def feed(self):
        self._fed = time.ticks_ms()

    def _watch(self):
        while True:
            time.sleep_ms(100)
            if time.ticks_diff(time.ticks_ms(), self._fed) > self._timeout:
                _rig.send({"op": "reset", "kind": "wdt"})
                _rig.end()


def freq(hz=None):
    global _freq
    if hz is None:
        return _freq
    _freq = hz


def disable_irq():
    return 0


def enable_irq(state=0):
    pass


def soft_reset():
    _rig.send({"op": "reset", "kind": "soft"})
    _rig.end()


def lightsleep(time_ms=0):
    if time_ms:
        time.sleep_ms(time_ms)
    else:
        time.sleep_ms(1000)  # no wake source modelled: behave like a short nap


sleep = lightsleep
