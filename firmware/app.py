"""The firmware application: boot sequence, service registry, click fan-out.

Boot: `boot` event → settings → button + LED → services → asyncio loop. A service is an object
with `async def run(self)` and optionally `on_click(event)`, `on_long_hold(ms)`, `on_sleep(ms)`. Services come
from the optional module `services` (`services.register(app)` calls `app.add(...)`, once: the
module is dropped after it); without it
the board still detects clicks and prints them. `app.set_busy(name, True)` keeps the board awake.
"""

import asyncio
import gc
import os
import sys
from binascii import hexlify

import board
import events
import identity
import power
import store
from button import Button
from clicks import ClickDetector
from led import Led, make_driver
from machine import Pin
from micropython import const
from settings import Settings

_TIMINGS = ("debounce_ms", "double_ms", "long_ms")
_RESTART_PAUSE_S = const(5)  # a failed service is restarted after this pause

current = None  # the running App (for services and the REPL)


class App:
    def __init__(self):
        self.settings = Settings()
        self.services = []
        self.clicks = 0
        self.counts = {"single": 0, "double": 0, "long": 0}  # since boot, by type (shadow agent)
        self.serial = ""
        self.led = None  # type: Led  # type: ignore[assignment]
        self.button = None  # type: Button  # type: ignore[assignment]
        self._busy = {}

    def add(self, service):
        self.services.append(service)

    def set_busy(self, name, busy=True):
        """While any name is busy the board does not deep sleep (e.g. "outbox", "ota")."""
        if busy:
            self._busy[name] = True
        else:
            self._busy.pop(name, None)

    def is_busy(self):
        return bool(self._busy)

    def battery_mv(self):
        return power.battery_mv(board)

    def topic(self):
        return self.settings["topic"].replace("{serial}", self.serial)

    def boot(self):
        events.emit(
            "boot",
            fw=identity.FW_VERSION,
            board=board.NAME,
            reset=power.reset_name(),
            wake=power.wake_name(),
        )
        self.settings.load()
        self.settings.on_change(self._settings_changed)
        self.serial = identity.serial_number()
        s = self.settings
        detector = ClickDetector(s["debounce_ms"], s["double_ms"], s["long_ms"])
        self.led = Led(make_driver(board))
        if board.BUTTON_PULL_UP:
            # hold=False releases the hold power.Sleeper set (the stub lacks it; ports/esp32
            # machine_pin.c passes the constructor's keywords to init)
            pin = Pin(board.BUTTON_PIN, Pin.IN, Pin.PULL_UP, hold=False)  # type: ignore[call-arg]
        else:  # e.g. GPIO39 has no pull resistor: the board has its own
            pin = Pin(board.BUTTON_PIN, Pin.IN)
        self.button = Button(pin, board.BUTTON_ACTIVE_LOW, detector, self._click, self._long_hold)
        if power.woke_by_button():
            # ticks_ms() counts from the app's start (esp_timer, ports/esp32 mphalport.c) and the
            # press that woke the chip began before it: tick 0 is the earliest time it can name.
            self.button.seed_press(0)
        self.button.start()
        self.add(power.Sleeper(self))
        self._load_services()

    def _load_services(self):
        gc.collect()  # the services' code fills the boot's holes (docs/esp32-differences.md)
        try:
            import services  # type: ignore[import-not-found]
        except ImportError as e:
            if store.exists("services.py") or store.exists("services.mpy"):
                events.error("services_import", str(e))
            else:  # nothing to connect with: clicks are only printed
                self.led.show("unconfigured")
            return
        try:
            services.register(self)
        except Exception as e:  # a broken configuration must not stop the board detecting clicks
            events.error("services_register", "%s: %s" % (type(e).__name__, e))
            self.led.show("unconfigured")
        sys.modules.pop("services", None)  # the wiring runs once: its code is not kept

    def _click(self, kind, t):
        self.clicks += 1
        self.counts[kind.lower()] += 1
        event = {"type": kind, "t": t, "id": hexlify(os.urandom(8)).decode(), "n": self.clicks}
        events.emit("click", **event)
        self.tell("on_click", event)
        events.track_heap()

    def _long_hold(self, ms):
        events.emit("hold", ms=ms)
        self.tell("on_long_hold", ms)

    def tell(self, hook, arg):
        for service in self.services:
            fn = getattr(service, hook, None)
            if fn is not None:
                try:
                    fn(arg)
                except Exception as e:  # one service's bug must not lose the click for others
                    _service_error(service, e)

    def _settings_changed(self, changed):
        timings = {}
        for key in _TIMINGS:
            if key in changed:
                timings[key] = changed[key]
        if timings:
            self.button.detector.configure(**timings)

    async def _supervise(self, service):
        while True:
            try:
                await service.run()
                return
            except Exception as e:
                try:
                    _service_error(service, e)
                except MemoryError:  # no room for the report: the restart matters more
                    pass
            await asyncio.sleep(_RESTART_PAUSE_S)

    async def _heap_reports(self):
        while True:
            period = self.settings["heap_report_s"]
            if period:
                try:
                    events.heap()
                except MemoryError:  # the loop is app.main()'s last task: it must not end
                    pass
            await asyncio.sleep(period or 60)

    async def run(self):
        for service in [self.led, self.button] + self.services:  # core tasks supervised too
            asyncio.create_task(self._supervise(service))
        await self._heap_reports()


def _service_error(service, e):
    events.error("service", "%s: %s: %s" % (type(service).__name__, type(e).__name__, e))


def main():
    global current
    current = App()
    current.boot()
    asyncio.run(current.run())
