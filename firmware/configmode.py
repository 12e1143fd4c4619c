# Configuration mode (blinking blue, the access point and its page; docs/firmware-connectivity.md),
# the one service a blank board runs: wired by services.register on every board. It opens
#  - at boot when nothing is configured, or when the stored identity cannot be set up for TLS
#    (an `error` event `tls_setup` first): solid orange for ConfigMode.ORANGE_MS first, then
#    blue. It does not hold off idle sleep (a button in a drawer must not drain its battery); a
#    press wakes it and it offers config mode again;
#  - on a hold of >= 6 s (Button.LONG_HOLD_MS, the `hold` event): the customer asked, so the
#    board stays awake (set_busy "config") until the page was submitted or config mode timed out
#    (10 min).
# A submitted configuration resets the board, which boots with it. On a time-out the LED goes
# back to orange (unconfigured) or off. The page (configap, httpd, form, pem) is imported only
# when config mode opens.
import asyncio
import gc

from button import Button


class ConfigMode:
    ORANGE_MS = 1000  # solid orange before config mode opens on an unconfigured board

    def __init__(self, app, configured, timeout_s=None):
        self.app = app
        self.configured = configured
        self.timeout_s = timeout_s  # None: configap.AP_TIMEOUT_S (10 minutes)
        self.request = asyncio.Event()
        self.busy = False  # keep the board awake while open (asked for by a hold)
        if not configured:
            self.request.set()

    def unusable(self):
        # the stored configuration cannot connect: open at boot, as on a blank board
        self.configured = False
        self.request.set()

    def on_long_hold(self, ms):
        if ms >= Button.LONG_HOLD_MS:
            self.busy = True
            self.request.set()

    async def run(self):
        app = self.app
        if not self.configured:
            app.led.show("unconfigured")
            await asyncio.sleep_ms(self.ORANGE_MS)
        while True:
            await self.request.wait()
            if self.busy:
                app.set_busy("config")
            gc.collect()  # the page's code fills the holes low in the heap (see services.py)
            import configap

            portal = configap.Portal(
                app.serial, app.led.show, timeout_s=self.timeout_s or configap.AP_TIMEOUT_S
            )
            # AP+STA share the radio: the station's scans would drop the phone on the page
            app.tell("on_config_mode", True)
            try:
                applied = await portal.run()
            finally:
                app.tell("on_config_mode", False)
            if applied:
                import machine

                machine.reset()  # boot again with the new configuration
            self.request.clear()
            self.busy = False
            app.set_busy("config", False)
            app.led.show("off" if self.configured else "unconfigured")
