"""Reset cause / wake reason for the `boot` event, and deep sleep when the button is idle."""

import asyncio
from time import ticks_diff, ticks_ms

import board
import events
import machine

_RESETS = {
    machine.PWRON_RESET: "power",
    machine.HARD_RESET: "hard",
    machine.WDT_RESET: "wdt",
    machine.DEEPSLEEP_RESET: "deepsleep",
    machine.SOFT_RESET: "soft",
}
_WAKES = {machine.EXT0_WAKE: "ext0", machine.TIMER_WAKE: "timer"}


def reset_name():
    return _RESETS.get(machine.reset_cause(), "hard")  # brownout and others: a hard reset


def wake_name():
    return _WAKES.get(machine.wake_reason())


def battery_mv(board):
    """Battery voltage in mV through the profile's divider, or None without a battery ADC."""
    if board.BATTERY_ADC_PIN is None:
        return None
    adc = machine.ADC(machine.Pin(board.BATTERY_ADC_PIN), atten=machine.ADC.ATTN_11DB)
    return int(adc.read_uv() * board.BATTERY_DIVIDER) // 1000


def woke_by_button():
    return machine.reset_cause() == machine.DEEPSLEEP_RESET and wake_name() == "ext0"


class Sleeper:
    """A service: deep sleep after `idle_sleep_s` with no gesture in progress and nothing busy."""

    def __init__(self, app):
        self.app = app
        self.last_activity = ticks_ms()

    def on_click(self, _event):
        self.last_activity = ticks_ms()

    async def run(self):
        app = self.app
        while True:
            limit = app.settings["idle_sleep_s"] * 1000
            if not limit:
                await asyncio.sleep(1)
                continue
            if not app.button.idle() or app.is_busy():
                self.last_activity = ticks_ms()
            left = limit - ticks_diff(ticks_ms(), self.last_activity)
            if left <= 0:
                self.sleep()
            await asyncio.sleep_ms(min(left, 1000))

    def sleep(self):
        app = self.app
        events.emit("sleep", ms=None)
        app.tell("on_sleep", None)  # services close what they hold (synchronously)
        app.led.show("off")
        app.led.off_now()
        sleep_until_pressed(app.button.pin)


def sleep_until_pressed(pin):
    """Deep sleep until the button (on `pin`) is pressed."""
    import esp32

    if board.BUTTON_PULL_UP:
        # The S2/S3 drop the pad's pull-up in deep sleep unless it is held (MicroPython issue
        # #15260): a floating pin wakes the chip at once. app.boot releases the hold.
        pin.init(pin.IN, pin.PULL_UP, hold=True)
    esp32.wake_on_ext0(pin, not board.BUTTON_ACTIVE_LOW)  # wake level; positional per the stub
    machine.deepsleep()
