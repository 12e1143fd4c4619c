# ruff: noqa: ARG002  (signatures mirror the ESP32 API; unmodelled arguments are ignored)
# `machine` for the emulated board: the unix port's built-in module plus the ESP32 parts the
# firmware uses (docs/contracts.md "Emulated board process"). Hardware state comes from the rig
# over the side channel (_rig); IRQ and timer callbacks are soft IRQs, as on the ESP32.
import sys

_p = sys.path
sys.path = []
import machine as _m  # noqa: E402  (the built-in, not this file)

sys.path = _p
del _p

# What no session of the firmware uses (Timer: only a trial boot after an OTA update, appsel.py)
# is loaded when first asked for (_machine_more), not at import: on the chip it is in flash, here
# it would sit on the GC heap.
_LATER = ("Timer", "WDT", "freq", "disable_irq", "enable_irq", "soft_reset", "lightsleep", "sleep")

for _n in dir(_m):
    if not _n.startswith("__") and _n not in _LATER:
        globals()[_n] = getattr(_m, _n)


def __getattr__(name):
    if name not in _LATER:
        raise AttributeError(name)
    import _machine_more

    value = getattr(_machine_more, name)
    globals()[name] = value
    return value


import binascii  # noqa: E402
import builtins  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

import _pollfix  # noqa: E402, F401  (before the firmware's first connection: see the module)
import _rig  # noqa: E402
import _sched  # noqa: E402

# ESP32 values of the constants.
PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5
PIN_WAKE = 2
EXT0_WAKE = 2
EXT1_WAKE = 3
TIMER_WAKE = 4
TOUCHPAD_WAKE = 5
ULP_WAKE = 6
SLEEP = 2
DEEPSLEEP = 4

_reset_cause = _sched.figure("BUTTONRIG_RESET_CAUSE", PWRON_RESET)
_wake_reason = _sched.figure("BUTTONRIG_WAKE_REASON", 0)


# Soft IRQs as on the ESP32, queued 8 deep, held back by blocking C calls: see _sched.
blocking = _sched.blocking


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_DOWN = 1
    PULL_UP = 2
    IRQ_RISING = 1
    IRQ_FALLING = 2
    WAKE_LOW = 4
    WAKE_HIGH = 5
    DRIVE_0 = 0
    DRIVE_1 = 1
    DRIVE_2 = 2
    DRIVE_3 = 3

    _irqs = {}  # pin id -> Pin with a handler
    _pulls = {}  # pin id -> (pull, hold): the pad's state, whichever Pin object set it

    def __init__(self, id, mode=-1, pull=-1, value=None, hold=None, **_kw):
        self._id = id
        self._mode = self.IN
        self._pull = None
        self._out = None
        self._handler = None
        self._trigger = 0
        self.init(mode, pull, value, hold)

    def init(self, mode=-1, pull=-1, value=None, hold=None, **_kw):
        # hold: gpio_hold_en/dis (ports/esp32 machine_pin.c); kept per pad for deep sleep
        if mode != -1:
            self._mode = mode
        if pull != -1:
            self._pull = pull
        if pull != -1 or hold is not None:
            held = Pin._pulls.get(self._id, (None, False))[1] if hold is None else bool(hold)
            Pin._pulls[self._id] = (self._pull, held)
        if value is not None:
            self.value(value)
        elif self._mode in (self.OUT, self.OPEN_DRAIN) and self._out is None:
            self._out = 0

    def _idle_level(self):
        return 1 if self._pull == self.PULL_UP else 0

    def value(self, v=None):
        if v is None:
            if self._mode in (self.OUT,):
                return self._out or 0
            return _rig.level(self._id, self._idle_level())
        v = 1 if v else 0
        if v != self._out:
            self._out = v
            _rig.send({"op": "out", "pin": self._id, "value": v, "t": time.ticks_ms()})
        return None

    __call__ = value

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def toggle(self):
        self.value(0 if self._out else 1)

    def mode(self, m=None):
        if m is None:
            return self._mode
        self._mode = m

    def pull(self, p=None):
        if p is None:
            return self._pull
        self._pull = p
        Pin._pulls[self._id] = (p, Pin._pulls.get(self._id, (None, False))[1])

    def irq(self, handler=None, trigger=3, wake=None, hard=False):
        self._handler = handler
        self._trigger = trigger if handler else 0
        if handler:
            Pin._irqs[self._id] = self
        else:
            Pin._irqs.pop(self._id, None)
        # Tells the rig the input is armed, so a press is not played before anyone listens.
        _rig.send({"op": "irq", "pin": self._id, "trigger": self._trigger})
        return self

    def __repr__(self):
        return "Pin(%d)" % self._id


def _on_level(pin, old, new):
    p = Pin._irqs.get(pin)
    if p is None:
        return
    if old is None:
        old = p._idle_level()
    if old == new:
        return
    if p._trigger & (Pin.IRQ_RISING if new else Pin.IRQ_FALLING):
        _sched.schedule(p._handler, p)


_rig.watch(_on_level)


_battery_mv = _sched.figure("BUTTONRIG_BATTERY_MV", 3000)


def _on_battery(msg):
    global _battery_mv
    _battery_mv = msg["mv"]


_rig.on("battery", _on_battery)


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    WIDTH_9BIT = 0
    WIDTH_10BIT = 1
    WIDTH_11BIT = 2
    WIDTH_12BIT = 3
    _FULL_UV = 3300000  # 11 dB attenuation range

    def __init__(self, pin, atten=3):
        self._pin = pin

    def atten(self, a):
        pass

    def width(self, w):
        pass

    def read_uv(self):
        # The battery is read through the profile's divider, as on the board.
        try:
            import board

            div = getattr(board, "BATTERY_DIVIDER", 1.0) or 1.0
        except ImportError:
            div = 1.0
        return int(_battery_mv * 1000 / div)

    def read(self):
        return min(4095, self.read_uv() * 4095 // self._FULL_UV)

    def read_u16(self):
        return self.read() * 65535 // 4095


class RTC:
    # The clock itself is the `time` shim's (2000 epoch, as ports/esp32 machine_rtc.c): datetime()
    # reads and sets it; the offset and the memory are kept by the rig across deep sleep.
    _MEM_MAX = 2048
    _st = {}  # shared by every RTC(): one clock, one memory
    _loaded = False

    def __init__(self, id=0):
        if not RTC._loaded:
            raw = os.getenv("BUTTONRIG_RTC")
            if raw:
                RTC._st.update(json.loads(raw))
            RTC._loaded = True

    def _save(self):
        # Kept by the rig across deep sleep and resets, cleared at power-on, as on the chip.
        _rig.send({"op": "rtc", "state": RTC._st})

    def datetime(self, dt=None):
        if dt is None:
            t = time.gmtime()
            return (t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0)
        y, mo, d, _wd, h, mi, s = dt[:7]
        RTC._st["offset"] = time.set_rtc_unix(time.unix_seconds(y, mo, d, h, mi, s))
        self._save()

    def init(self, dt):
        self.datetime(dt)

    def memory(self, data=None):
        if data is None:
            return binascii.unhexlify(RTC._st.get("mem", ""))
        if len(data) > self._MEM_MAX:
            raise ValueError("buffer too long")
        RTC._st["mem"] = binascii.hexlify(data).decode()
        self._save()


def reset_cause():
    return _reset_cause


def wake_reason():
    return _wake_reason


def unique_id():
    return binascii.unhexlify(os.getenv("BUTTONRIG_UNIQUE_ID") or "240ac4000001")


def reset():
    _rig.send({"op": "reset", "kind": "hard"})
    _rig.end()


def _pull_lost(pin):
    # The ESP32-S2/S3 do not keep a digital pad's pull-up through deep sleep once ext0 hands the
    # pad to the RTC domain, unless the pad is held (Pin(..., hold=True): gpio_hold_en in ports/
    # esp32 machine_pin.c); MicroPython issue #15260. The original ESP32 keeps it.
    try:
        import board

        chip = getattr(board, "CHIP", "esp32")
    except ImportError:
        chip = "esp32"
    pull, hold = Pin._pulls.get(pin, (None, False))
    return chip in ("esp32s2", "esp32s3") and pull == Pin.PULL_UP and not hold


def deepsleep(time_ms=0):
    try:
        import esp32

        ext0 = getattr(esp32, "_ext0", None)
    except ImportError:
        ext0 = None
    msg = {"op": "deepsleep", "ms": time_ms or None, "ext0": ext0}
    if ext0 and _pull_lost(ext0[0]):
        msg["pull_lost"] = ext0[0]  # the pad floats low while the chip sleeps
    _rig.send(msg)
    _rig.end()


# The TLS date check (_tlsclock) is installed when the firmware first imports ssl: a board that
# never uses TLS does not load it.
_import = builtins.__import__


def _importing(name, *args):
    module = _import(name, *args)
    if name == "ssl" and "_tlsclock" not in sys.modules:
        _import("_tlsclock")
    return module


builtins.__import__ = _importing
