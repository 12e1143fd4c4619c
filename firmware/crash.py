"""What a boot does when the app raises out of app.main() (main.py).

On an ESP32 an exception out of main.py leaves the REPL with the radio still on: a button that no
longer clicks and drains its battery until someone power-cycles it. Instead the board resets, at
most `_IN_A_ROW` times in a row, counted in RTC memory (kept across resets and deep sleep, lost
with power); the next crash puts it to sleep until the button is pressed, and that press starts
a new count. A crash after `_FRESH_MS` of running counts as the first of a new row.
"""

import sys
from time import ticks_diff, ticks_ms

import machine
from micropython import const

_IN_A_ROW = const(3)
_FRESH_MS = const(60000)
_TAG = b"crash"


def recover(exc):
    sys.print_exception(exc)  # type: ignore[attr-defined]
    rtc = machine.RTC()
    mem = rtc.memory()
    fresh = 0 <= ticks_diff(ticks_ms(), 0) < _FRESH_MS  # ticks count from the app's start
    n = mem[5] if len(mem) == 6 and mem[:5] == _TAG and fresh else 0
    n += 1
    then = "reset" if n <= _IN_A_ROW else "sleep"
    try:
        import events

        events.emit("crash", n=n, then=then, error=type(exc).__name__)
    except Exception:  # the app's own modules may be what is broken
        pass
    if then == "reset":
        rtc.memory(_TAG + bytes([n]))
        machine.reset()
    rtc.memory(b"")
    import board
    import power

    power.sleep_until_pressed(machine.Pin(board.BUTTON_PIN, machine.Pin.IN))
