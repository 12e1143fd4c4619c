# Wi-Fi station manager: joins the configured network with a timeout, names each failure
# (wifi = cannot join, dhcp = joined but no address), retries with jittered exponential back-off,
# watches the link and reports RSSI. Failures are fault.Fault, which gives their LED pattern.
import asyncio

import events
import network
from fault import Fault, backoff_ms

_REASONS = {  # the join failures
    network.STAT_WRONG_PASSWORD: "wrong password",
    network.STAT_NO_AP_FOUND: "no access point",
    network.STAT_ASSOC_FAIL: "association failed",
    network.STAT_HANDSHAKE_TIMEOUT: "handshake timeout",
    network.STAT_BEACON_TIMEOUT: "beacon timeout",
}


class Station:
    JOIN_TIMEOUT_MS = 20000  # no address this long after connect(): the join failed
    # A failure status this soon after connect() may be the previous attempt's: MicroPython's
    # network_wlan.c keeps the last disconnect reason until a new one or an address replaces it,
    # and status() reports it before "connecting". An ESP-IDF attempt (scan, auth) takes a few
    # seconds, so one older than this is this attempt's own.
    FAIL_SETTLE_MS = 4000
    BACKOFF_BASE_MS = 2000
    BACKOFF_MAX_MS = 120000
    CHECK_MS = 1000  # how often the link is checked while up

    def __init__(self, ssid, password, show):
        self.ssid = ssid
        self._password = password
        self.show = show  # f(led pattern name)
        self.up = asyncio.Event()  # set while the station has an address
        self.wlan = network.WLAN(network.STA_IF)
        self.quiet = False  # config mode is open: no scans, no joins (they drop the AP's phone)

    def on_config_mode(self, is_open):
        # app hook (configmode.ConfigMode): AP+STA share one radio, and each station scan or join
        # takes the AP off its channel. A link that is up stays; no retry until it closes, not
        # even the port's own when the link drops (config(reconnects=0); -1: forever again).
        self.quiet = is_open
        w = self.wlan
        if w.active():
            w.config(reconnects=0 if is_open else -1)
            if is_open and not self.up.is_set():
                w.disconnect()  # now, before the AP starts: ends the join under way

    def rssi(self):
        try:
            return self.wlan.status("rssi")
        except (OSError, ValueError):
            return None

    async def connect(self):
        # -> True once there is an IP address, False when config mode opened meanwhile;
        # Fault("wifi" | "dhcp") otherwise
        import time

        w = self.wlan
        w.active(True)
        if w.status() != network.STAT_IDLE:
            w.disconnect()  # the ESP32 refuses connect() while a join is under way
        w.connect(self.ssid, self._password)
        t0 = time.ticks_ms()
        while True:
            st = w.status()
            if st == network.STAT_GOT_IP:
                return True
            if self.quiet:
                w.disconnect()
                return False
            waited = time.ticks_diff(time.ticks_ms(), t0)
            # a failure counts once it is this attempt's, and not while associated (DHCP)
            if st in _REASONS and waited >= self.FAIL_SETTLE_MS and self.rssi() is None:
                w.disconnect()
                raise Fault("wifi", _REASONS[st])
            if waited > self.JOIN_TIMEOUT_MS:
                associated = self.rssi() is not None
                w.disconnect()
                if associated:
                    raise Fault("dhcp", "no address from DHCP")
                raise Fault("wifi", _REASONS.get(st) or "join timed out (status %d)" % st)
            await asyncio.sleep_ms(100)

    async def run(self):
        failures = 0
        while True:
            while self.quiet:
                await asyncio.sleep_ms(200)
            self.show("connecting")
            try:
                if not await self.connect():
                    continue
            except Fault as e:
                events.emit("wifi", state="down", kind=e.kind, msg=e.detail, ssid=self.ssid)
                self.show(e.led())
                failures += 1
                await asyncio.sleep_ms(
                    backoff_ms(failures - 1, self.BACKOFF_BASE_MS, self.BACKOFF_MAX_MS)
                )
                continue
            failures = 0
            events.emit(
                "wifi", state="up", ssid=self.ssid, ip=self.wlan.ifconfig()[0], rssi=self.rssi()
            )
            self.up.set()
            while self.wlan.isconnected():
                await asyncio.sleep_ms(self.CHECK_MS)
            self.up.clear()
            events.emit("wifi", state="lost", ssid=self.ssid)
            if self.quiet:
                self.wlan.disconnect()  # no auto-reconnect scans while config mode is open
