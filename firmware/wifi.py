# Wi-Fi station manager: joins the configured network with a timeout, names each failure
# (wifi = cannot join, dhcp = joined but no address), retries with jittered exponential back-off,
# watches the link and reports RSSI. Also maps every failure class of the connection chain
# (wifi, dhcp, dns, connect, tls, forbidden) to its LED pattern.
import asyncio

import events
import network

LED_FOR = {
    "wifi": "err_wifi",
    "dhcp": "err_dhcp",
    "dns": "err_dns",
    "connect": "err_connect",
    "timeout": "err_connect",
    "closed": "err_connect",
    "protocol": "err_connect",
    "tls": "err_tls",
    "forbidden": "err_forbidden",
}

_REASONS = {  # the join failures
    network.STAT_WRONG_PASSWORD: "wrong password",
    network.STAT_NO_AP_FOUND: "no access point",
    network.STAT_ASSOC_FAIL: "association failed",
    network.STAT_HANDSHAKE_TIMEOUT: "handshake timeout",
    network.STAT_BEACON_TIMEOUT: "beacon timeout",
}


def led_for(kind):
    return LED_FOR.get(kind, "err_connect")


class WifiError(Exception):
    def __init__(self, kind, detail):
        super().__init__(kind, detail)
        self.kind = kind
        self.detail = detail


class Station:
    def __init__(self, ssid, password, show, timeout_ms=20000):
        self.ssid = ssid
        self._password = password
        self.show = show  # f(led pattern name)
        self.timeout_ms = timeout_ms
        self.backoff_base_ms = 2000
        self.backoff_max_ms = 120000
        self.check_ms = 1000
        self.up = asyncio.Event()  # set while the station has an address
        self.wlan = network.WLAN(network.STA_IF)

    def rssi(self):
        try:
            return self.wlan.status("rssi")
        except (OSError, ValueError):
            return None

    async def connect(self):
        # -> None once there is an IP address; WifiError("wifi" | "dhcp") otherwise
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
                return
            if st in _REASONS:
                w.disconnect()
                raise WifiError("wifi", _REASONS[st])
            if time.ticks_diff(time.ticks_ms(), t0) > self.timeout_ms:
                associated = self.rssi() is not None
                w.disconnect()
                if associated:
                    raise WifiError("dhcp", "no address from DHCP")
                raise WifiError("wifi", "join timed out (status %d)" % st)
            await asyncio.sleep_ms(100)

    async def run(self):
        import mqtt

        failures = 0
        while True:
            self.show("connecting")
            try:
                await self.connect()
            except WifiError as e:
                events.emit("wifi", state="down", kind=e.kind, msg=e.detail, ssid=self.ssid)
                self.show(led_for(e.kind))
                failures += 1
                await asyncio.sleep_ms(
                    mqtt.backoff_ms(
                        failures - 1, self.backoff_base_ms, self.backoff_max_ms, mqtt.rand16()
                    )
                )
                continue
            failures = 0
            events.emit(
                "wifi", state="up", ssid=self.ssid, ip=self.wlan.ifconfig()[0], rssi=self.rssi()
            )
            self.up.set()
            while self.wlan.isconnected():
                await asyncio.sleep_ms(self.check_ms)
            self.up.clear()
            events.emit("wifi", state="lost", ssid=self.ssid)
