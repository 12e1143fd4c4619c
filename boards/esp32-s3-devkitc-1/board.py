"""ESP32-S3-DevKitC-1: BOOT button on GPIO0, one WS2812 pixel on GPIO48 (v1.0; v1.1 boards use
GPIO38). The rig presses and resets it through the "UART" port's USB-UART bridge (DTR -> GPIO0,
RTS -> EN, like the DevKitC); the native "USB" port's DTR/RTS are virtual lines of the USB CDC
device and reach neither pin."""

NAME = "esp32-s3-devkitc-1"
CHIP = "esp32s3"  # deep sleep does not keep the wake pin's pull-up unless it is held
BUTTON_PIN = 0
BUTTON_ACTIVE_LOW = True
BUTTON_PULL_UP = True
LED_KIND = "pixel"
LED_PINS = (48,)
LED_ACTIVE_LOW = False
BATTERY_ADC_PIN = None
BATTERY_DIVIDER = 2.0
RIG_PRESS = "dtr"
RIG_RESET = "rts"
CONFIG_AP_ADDR = ("0.0.0.0", 80)
