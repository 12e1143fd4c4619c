# ruff: noqa: ARG002  (signatures mirror the ESP32 API; unmodelled arguments are ignored)
# The parts of the emulated board's `machine` that no session of the firmware uses, loaded by the
# `machine` shim when first asked for (machine.WDT, ...): on a chip they are in flash, here they
# would otherwise sit on the GC heap for the life of the process.
import _thread
import time

import _rig

_freq = 160000000


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
