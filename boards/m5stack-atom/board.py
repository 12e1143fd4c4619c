"""M5Stack ATOM Lite / Matrix: the screen-button is on GPIO39, an input-only pin with no internal
pull-up (the board has an external one), and an SK6812 pixel on GPIO27.

RIG_PRESS is "none": the button is not wired to GPIO0, so the USB bridge's DTR line cannot press
it (DTR still pulls GPIO0, which only selects the boot mode). Bench tests that need presses on an
ATOM use a relay/opto across the button, which this rig does not drive. RTS still resets it.
"""

NAME = "m5stack-atom"
BUTTON_PIN = 39  # an RTC GPIO: EXT0 wake works
BUTTON_ACTIVE_LOW = True
BUTTON_PULL_UP = False  # GPIO34-39 have no pull resistors; the ATOM has an external pull-up
LED_KIND = "pixel"
LED_PINS = (27,)
LED_ACTIVE_LOW = False
BATTERY_ADC_PIN = None
BATTERY_DIVIDER = 2.0
RIG_PRESS = "none"
RIG_RESET = "rts"
CONFIG_AP_ADDR = ("0.0.0.0", 80)
