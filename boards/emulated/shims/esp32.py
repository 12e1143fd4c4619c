# `esp32` for the emulated board: wake sources (read by machine.deepsleep), temperature, NVS.
WAKEUP_ALL_LOW = False
WAKEUP_ANY_HIGH = True

_ext0 = None  # [pin, level] once wake_on_ext0 was called
_ext1 = None  # (set by _esp32_more.wake_on_ext1)
# What the firmware does not use is loaded when first asked for (_esp32_more), not at import: on
# the chip it is in flash, here it would sit on the GC heap.
_LATER = ("NVS", "wake_on_ext1", "wake_on_touch", "raw_temperature", "mcu_temperature")


def _pin_id(pin):
    return pin if isinstance(pin, int) else pin._id


def wake_on_ext0(pin, level):
    global _ext0
    _ext0 = None if pin is None else [_pin_id(pin), 1 if level else 0]


def __getattr__(name):
    if name not in _LATER:
        raise AttributeError(name)
    import _esp32_more

    value = getattr(_esp32_more, name)
    globals()[name] = value
    return value
