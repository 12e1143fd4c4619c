"""ESP32-DevKitC: the BOOT button (GPIO0) is the click button, so the rig presses it through the
USB bridge's auto-reset circuit (DTR asserted, RTS released → GPIO0 low)."""

NAME = "esp32-devkitc"
BUTTON_PIN = 0  # BOOT button, to GND; an RTC GPIO, so it can wake from deep sleep (EXT0)
BUTTON_ACTIVE_LOW = True
BUTTON_PULL_UP = True
LED_KIND = "mono"
LED_PINS = (2,)  # the blue LED most DevKitC clones carry (the original has only a power LED)
LED_ACTIVE_LOW = False
BATTERY_ADC_PIN = None
BATTERY_DIVIDER = 2.0
RIG_PRESS = "dtr"
RIG_RESET = "rts"
CONFIG_AP_ADDR = ("0.0.0.0", 80)
