"""Emulated button (unix port + boards/emulated/shims): the rig presses and resets it through the
shims' side channel; the configuration page listens on a loopback port the rig chooses."""

import os

NAME = "emulated"
BUTTON_PIN = 0
BUTTON_ACTIVE_LOW = True
BUTTON_PULL_UP = True
LED_KIND = "pixel"
LED_PINS = (48,)
LED_ACTIVE_LOW = False
BATTERY_ADC_PIN = 34
BATTERY_DIVIDER = 2.0
RIG_PRESS = "shim"
RIG_RESET = "shim"
CONFIG_AP_ADDR = ("127.0.0.1", int(os.getenv("BUTTONRIG_AP_PORT") or "8080"))
