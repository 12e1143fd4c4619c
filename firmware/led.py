"""LED status codes (docs/contracts.md "LED patterns") as data, played by one asyncio task.

API: `led = Led(driver)`; `led.show("err_tls")` switches pattern (prints a `led` event when the
shown pattern changes); `asyncio.create_task(led.run())` plays it. `make_driver(board)` builds the
driver for the profile's LED_KIND: "mono" (one Pin, colour ignored), "rgb" (three Pins, on/off
per channel), "pixel" (one WS2812/SK6812 via neopixel).
"""

import asyncio

import events

try:
    from micropython import const
except ImportError:  # CPython runs this module in the tests
    const = int

OFF = (0, 0, 0)
WHITE = (255, 255, 255)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)
ORANGE = (255, 100, 0)
RED = (255, 0, 0)

_S = const(200)  # short red flash
_L = const(600)  # long red flash
_G = const(200)  # gap between flashes
_P = const(1000)  # pause after a red code
_BLINK = (250, 250)

# name: (colour, steps in ms alternating on/off starting with on; () = steady, repeats; 0 = forever)
# When the repeats are done the LED goes to "off".
PATTERNS = {
    "off": (OFF, (), 0),
    "connecting": (WHITE, _BLINK, 0),
    "published": (GREEN, (1000,), 1),
    "config": (BLUE, _BLINK, 0),
    "unconfigured": (ORANGE, (), 0),
    "err_wifi": (RED, (_S, _G, _S, _G, _S, _P), 3),
    "err_dhcp": (RED, (_S, _G, _S, _G, _L, _P), 3),
    "err_dns": (RED, (_S, _G, _L, _G, _S, _P), 3),
    "err_connect": (RED, (_S, _G, _L, _G, _L, _P), 3),
    "err_tls": (RED, (_L, _G, _S, _G, _S, _P), 3),
    "err_forbidden": (RED, (_L, _G, _S, _G, _L, _P), 3),
    "identify": (GREEN, (100, 100), 10),  # a job `identify` reached this button (2 s)
}


def frames(name):
    """(colour, ms) frames of one pass of the pattern; ms None = hold until changed."""
    colour, steps, _ = PATTERNS[name]
    if not steps:
        return ((colour, None),)
    return tuple((colour if i % 2 == 0 else OFF, ms) for i, ms in enumerate(steps))


class MonoDriver:
    def __init__(self, pin, active_low=False):
        self._pin = pin
        self._low = active_low
        self.set(OFF)

    def set(self, rgb):
        self._pin.value((rgb != OFF) != self._low)


class RgbDriver:
    def __init__(self, pins, active_low=False):
        self._pins = pins
        self._low = active_low
        self.set(OFF)

    def set(self, rgb):
        for pin, level in zip(self._pins, rgb):
            pin.value((level > 0) != self._low)


class PixelDriver:
    def __init__(self, strip, brightness=64):
        self._strip = strip
        self._scale = brightness
        self.set(OFF)

    def set(self, rgb):
        s = self._scale
        self._strip[0] = (rgb[0] * s // 255, rgb[1] * s // 255, rgb[2] * s // 255)
        self._strip.write()


def make_driver(board):
    from machine import Pin

    kind = board.LED_KIND
    pins = board.LED_PINS
    low = getattr(board, "LED_ACTIVE_LOW", False)
    if kind == "mono":
        return MonoDriver(Pin(pins[0], Pin.OUT), low)
    if kind == "rgb":
        return RgbDriver([Pin(p, Pin.OUT) for p in pins], low)
    if kind == "pixel":
        from neopixel import NeoPixel

        return PixelDriver(NeoPixel(Pin(pins[0], Pin.OUT), 1))
    raise ValueError("LED_KIND must be mono, rgb or pixel, not %r" % kind)


class Led:
    def __init__(self, driver):
        self._driver = driver
        self.pattern = "off"
        self._changed = asyncio.Event()

    def show(self, name):
        """Switch to pattern `name` (restarts it if already shown)."""
        if name not in PATTERNS:
            raise ValueError("unknown LED pattern %r" % name)
        if name != self.pattern:
            self.pattern = name
            events.emit("led", pattern=name)
        self._changed.set()

    def off_now(self):
        """Dark at once (before deep sleep), whatever the player task is doing."""
        self._driver.set(OFF)

    async def run(self):
        while True:
            self._changed.clear()
            name = self.pattern
            repeats = PATTERNS[name][2]
            passes = 0
            interrupted = False
            while not interrupted and (repeats == 0 or passes < repeats):
                for colour, ms in frames(name):
                    self._driver.set(colour)
                    if await self._wait(ms):
                        interrupted = True
                        break
                passes += 1
            if not interrupted:
                self.show("off")  # a finite pattern is over

    async def _wait(self, ms):
        """Sleep `ms` (None = forever); True if show() was called meanwhile."""
        if ms is None:
            await self._changed.wait()
            return True
        try:
            await asyncio.wait_for_ms(self._changed.wait(), ms)  # type: ignore[attr-defined]
            return True
        except asyncio.TimeoutError:
            return False
