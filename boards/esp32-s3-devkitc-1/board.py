"""ESP32-S3-DevKitC-1: BOOT button on GPIO0, one WS2812 pixel on GPIO48 (v1.0; v1.1 boards use
GPIO38). The USB-UART port's bridge drives GPIO0 / EN like the DevKitC."""

NAME = "esp32-s3-devkitc-1"
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
