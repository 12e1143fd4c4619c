# `time` for the emulated board: the unix port's module with the ESP32 port's clock.
#
# Epoch. The ESP32 port never sets MICROPY_EPOCH_IS_1970, so py/mpconfig.h gives it the 2000
# epoch: time(), time_ns(), gmtime(), localtime() and mktime() count from 2000-01-01 (ports/esp32
# modtime.c, mphalport.c mp_hal_time_ns). Only ports/unix/mpconfigport.h sets 1970. Here the
# firmware sees 2000-based seconds of the board's RTC (machine.RTC sets it; BUTTONRIG_RTC keeps
# it across deep sleep). A board whose RTC was never set (BUTTONRIG_COLD_RTC=1: a cold power-on
# on the chip) reads 2000-01-01 plus its uptime, as the chip does.
#
# Ticks are the unix port's own: ticks_ms() is CLOCK_MONOTONIC, and the rig starts the process in
# a time namespace where that clock starts near 0 (a board the rig wakes) or at 1000 (tests), so
# that, as on the chip (esp_timer_get_time, ports/esp32 mphalport.c), ticks count from the app's
# start (rig/unix_port/app_clock.py). They cannot be offset here: asyncio's C task queue reads the
# port's ticks itself.
import sys

_p = sys.path
sys.path = []
import time as _t  # noqa: E402  (the built-in, not this file)

sys.path = _p
del _p

for _n in dir(_t):
    if not _n.startswith("__"):
        globals()[_n] = getattr(_t, _n)

import json  # noqa: E402
import os  # noqa: E402

EPOCH_2000 = 946684800  # 1970 -> 2000 (what ports/esp32 main.c adds for mbedTLS)


# _offset: seconds added to the host's Unix time to give the board's Unix time; None: never set.
# (Top-level code, not a function: it runs once, at import, and is freed once the import is done.)
_offset = os.getenv("BUTTONRIG_RTC")
_offset = json.loads(_offset).get("offset") if _offset else None
if _offset is None and os.getenv("BUTTONRIG_COLD_RTC") == "1":
    # a cold RTC starts at 2000-01-01T00:00:00 when the app starts (tick 0)
    _offset = EPOCH_2000 + _t.ticks_ms() // 1000 - _t.time()
_offset = _offset or 0


def set_rtc_unix(unix_seconds):
    """machine.RTC.datetime(...) was called: the board's clock reads `unix_seconds` now.
    -> the offset to keep in the rig's RTC state."""
    global _offset
    _offset = unix_seconds - _t.time()
    return _offset


def unix_ns():
    """The board's clock in Unix nanoseconds (what mbedTLS is given on the chip)."""
    return _t.time_ns() + _offset * 1000000000


def time_ns():
    return unix_ns() - EPOCH_2000 * 1000000000


def time():
    return time_ns() // 1000000000


def gmtime(secs=None):
    if secs is None:
        secs = time()
    return _t.gmtime(int(secs) + EPOCH_2000)


localtime = gmtime  # no time zone on the chip: localtime is gmtime


def days_from_civil(y, m, d):
    # Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm): independent
    # of the host's time zone, unlike the unix port's mktime.
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m - 3 if m > 2 else m + 9) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def unix_seconds(y, mo, d, h=0, mi=0, s=0):
    return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s


def mktime(t):
    return unix_seconds(t[0], t[1], t[2], t[3], t[4], t[5]) - EPOCH_2000
