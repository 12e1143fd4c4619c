# `esp32` for the emulated board: wake sources (read by machine.deepsleep), temperature, NVS.
WAKEUP_ALL_LOW = False
WAKEUP_ANY_HIGH = True

_ext0 = None  # [pin, level] once wake_on_ext0 was called
_ext1 = None


def _pin_id(pin):
    return pin if isinstance(pin, int) else pin._id


def wake_on_ext0(pin, level):
    global _ext0
    _ext0 = None if pin is None else [_pin_id(pin), 1 if level else 0]


def wake_on_ext1(pins, level):
    global _ext1
    _ext1 = None if not pins else [[_pin_id(p) for p in pins], 1 if level else 0]


def wake_on_touch(wake):
    pass


def raw_temperature():
    return 120  # Fahrenheit, like the chip's sensor at room temperature


def mcu_temperature():
    return 49


def __getattr__(name):
    # NVS is loaded when first asked for, not at import: the firmware does not use it, and on
    # the chip its code is in flash (see _esp32_nvs).
    if name != "NVS":
        raise AttributeError(name)
    from _esp32_nvs import NVS

    globals()["NVS"] = NVS
    return NVS
