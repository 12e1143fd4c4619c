# Emulated `network` (ESP32 flavour) against a virtual radio the rig configures.
#
# The radio: {"aps": [{"ssid", "password", "rssi", "dhcp", "auth"}], "connect_ms"}. It starts
# from BUTTONRIG_RADIO (JSON) and the rig replaces keys with the side-channel op `radio`
# (docs/contracts.md "Virtual radio"). Modelled here: access points in range, wrong password,
# AP gone (out of range), no DHCP, RSSI. Not modelled (real instead): DNS failure (an
# unresolvable endpoint), TCP refused (a closed port), TLS failure (a broker certificate that does
# not verify) and refusal (the broker refuses the certificate).
# As strict as MicroPython's ports/esp32/network_wlan.c (docs/esp32-differences.md "Network"):
# status() keeps the last disconnect reason across connect() and reports it before
# "connecting"; a failed join is retried at once while connect() stands (auto-reconnect); the AP
# takes settings only while active, starts as ESP-IDF's open "ESP_..." on 192.168.4.1, and each
# station scan/join while it is active drops its clients (op `ap_disturbed`; `ap_join` fails).
# Secrets never leave: the rig learns SSIDs and states, not passwords.
# What a configured board in session does not use, the access point's emulation and scan(), is
# loaded when the AP is made or a scan asked for (_network_more): on a chip it is in flash, here
# it would sit on the GC heap (docs/esp32-differences.md "Memory").
import json
import os
import time

import _rig
from micropython import const

STA_IF = const(0)
AP_IF = const(1)
STAT_IDLE = const(1000)
STAT_CONNECTING = const(1001)
STAT_GOT_IP = const(1010)
STAT_BEACON_TIMEOUT = const(200)
STAT_NO_AP_FOUND = const(201)
STAT_WRONG_PASSWORD = const(202)
STAT_ASSOC_FAIL = const(203)
STAT_CONNECT_FAIL = const(203)
STAT_HANDSHAKE_TIMEOUT = const(204)
AUTH_OPEN = const(0)
AUTH_WEP = const(1)
AUTH_WPA_PSK = const(2)
AUTH_WPA2_PSK = const(3)
AUTH_WPA_WPA2_PSK = const(4)

_radio = {"aps": [], "connect_ms": 300}
_ifaces = {}


def _update(msg):
    for k in ("aps", "connect_ms"):
        if k in msg:
            _radio[k] = msg[k]


def _more():
    import _network_more

    return _network_more


def _ap_join(msg):
    # the rig plays a phone joining the configuration AP: is the password right?
    ap = _ifaces.get(AP_IF)
    if ap is None:
        _rig.send({"op": "ap_join", "ok": False, "essid": None})
    else:
        _more().ap_join(ap, msg)


def _find(ssid):
    for ap in _radio["aps"]:
        if ap.get("ssid") == ssid:
            return ap
    return None


_REASON_ASSOC_LEAVE = const(8)  # ESP-IDF's disconnect reason after disconnect()
_REASON_CONNECTION_FAIL = const(205)


def _ap_disturbed(why):
    # AP+STA: the chip has one radio; a station scan/join leaves the AP's channel and its clients
    # drop (ESP-IDF "Wi-Fi" guide, station/AP coexistence). The rig hears of each disturbance.
    ap = _ifaces.get(AP_IF)
    if ap and ap._active:
        _rig.send({"op": "ap_disturbed", "by": why})


class WLAN:
    # Follows MicroPython ports/esp32/network_wlan.c: interface state, the last disconnect reason
    # (never cleared by connect(): only a new disconnect or an address replaces it), auto-reconnect
    # while a connect is requested, and status()'s order of checks.
    def __new__(cls, interface=STA_IF):
        if interface not in _ifaces:
            o = object.__new__(cls)
            o._if = interface
            o._active = False
            o._cfg = {"essid": "", "password": "", "authmode": AUTH_OPEN, "channel": 1}
            if interface == AP_IF:
                _more().ap_defaults(o)
            o._target = None  # (ssid, key) asked for
            o._t0 = 0  # when the current join attempt began
            o._requested = False  # connect() asked for, not disconnect()ed (auto-reconnect)
            o._connected = False  # has an address
            o._associated = None  # the access point joined (with or without an address)
            o._reason = 0  # the last disconnect reason (0: none)
            o._reconnects = 0  # config(reconnects=n) as the port keeps it: n + 1, 0 = forever
            o._tries = 0  # reconnects since connect()
            _ifaces[interface] = o
        return _ifaces[interface]

    def __init__(self, interface=STA_IF):
        pass

    def active(self, *a):
        if not a:
            return self._active
        self._active = bool(a[0])
        if not self._active:
            self._target = None
            self._requested = self._connected = False
            self._associated = None
        if self._if == AP_IF:
            _more().announce(self)
        return None

    def connect(self, ssid=None, key=None, *, bssid=None):  # noqa: ARG002
        if self._if != STA_IF:
            raise OSError("STA required")
        if not self._active:
            raise OSError("Wifi Not Started")
        self._target = (ssid, key or "")
        self._t0 = time.ticks_ms()
        self._tries = 0
        self._requested = True
        self._connected = False
        self._associated = None  # (the last reason stays: network_wlan.c does not clear it)
        _rig.send({"op": "wifi", "state": "connect", "ssid": ssid})
        _ap_disturbed("sta_connect")

    def disconnect(self):
        if not self._active:  # esp_wifi_disconnect fails while the station is off
            raise OSError("Wifi Not Started")
        self._advance()
        if self._associated is not None:  # leaving an AP: ESP-IDF reports ASSOC_LEAVE
            self._reason = _REASON_ASSOC_LEAVE
        self._target = None
        self._requested = self._connected = False
        self._associated = None
        _rig.send({"op": "wifi", "state": "disconnect"})

    def _retry(self):
        # the port's handler on a disconnect: reconnect at once while connect() stands, unless
        # config(reconnects=n) has run out -> whether it retries
        if self._reconnects:
            self._tries += 1
            if self._tries >= self._reconnects:
                return False
        self._t0 = time.ticks_ms()
        _ap_disturbed("sta_reconnect")
        return True

    def _advance(self):
        # bring the station's state up to now: join attempts end after connect_ms; while a
        # connect is requested a failed attempt is retried at once (the port's auto-reconnect)
        if self._if != STA_IF or not self._active or not self._requested:
            return
        if self._associated is None and not self._retrying():
            return
        ssid, key = self._target
        ap = _find(ssid)
        if self._associated is not None:
            # the AP went (or changed its password, or restarted without DHCP, as the rig's
            # `radio` op means it): the link drops with a beacon timeout, then the port rejoins
            gone = ap is None or (ap.get("password") or "") != key
            if gone or (self._connected and not ap.get("dhcp", True)):
                self._associated = None
                self._connected = False
                self._reason = STAT_BEACON_TIMEOUT
                self._retry()
            else:
                self._associated = ap
                if not self._connected and ap.get("dhcp", True):
                    self._connected, self._reason = True, 0
            return
        if time.ticks_diff(time.ticks_ms(), self._t0) < _radio.get("connect_ms", 300):
            return
        if ap is None:
            self._reason = STAT_NO_AP_FOUND
        elif (ap.get("password") or "") != key:
            self._reason = STAT_WRONG_PASSWORD
        else:
            self._associated = ap
            if ap.get("dhcp", True):
                self._connected, self._reason = True, 0
            return
        self._retry()  # the next attempt (scanning again), if any

    def status(self, param=None):
        self._advance()
        if param is None:
            if self._if == AP_IF:
                return None  # as the port: no status without a parameter on the AP
            r = self._reason
            if self._connected:
                return STAT_GOT_IP
            if r == STAT_NO_AP_FOUND:
                return STAT_NO_AP_FOUND
            if r in (STAT_WRONG_PASSWORD, _REASON_CONNECTION_FAIL):
                return STAT_WRONG_PASSWORD
            if r == _REASON_ASSOC_LEAVE:
                return STAT_IDLE
            if self._requested and self._retrying():
                return STAT_CONNECTING
            return STAT_IDLE if r == 0 else r
        if param == "rssi":
            if self._if != STA_IF:
                raise OSError("STA required")
            if self._associated is None:
                raise OSError("Wifi Not Connected")
            return self._associated.get("rssi", -60)
        if param == "stations":
            if self._if != AP_IF:
                raise OSError("AP required")
            return []
        raise ValueError("unknown status param")

    def isconnected(self):
        if self._if == AP_IF:
            return self._active
        self._advance()
        return self._connected

    def ifconfig(self, *a):
        if self._if == AP_IF:
            return _more().ap_ifconfig(self, a)
        if a:
            return None
        if self.isconnected():
            return ("10.0.0.2", "255.255.255.0", "10.0.0.1", "10.0.0.1")
        return ("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0")

    def scan(self):
        return _more().scan(self)

    def config(self, *a, **kw):
        if a:
            k = a[0]
            if k == "mac":
                return bytes((2, 0, 0, 0, 1, self._if))
            if k in ("essid", "ssid"):
                return self._cfg["essid"]
            if k in ("authmode", "security"):
                return self._cfg["authmode"]
            if k == "password":
                raise ValueError("unknown config param")  # write-only, as on the ESP32
            return self._cfg.get(k)
        if not self._active:
            # esp_wifi_set_config fails with ESP_ERR_WIFI_MODE while the interface is not
            # enabled (ESP-IDF esp_wifi_set_config; network_common.c's message for it)
            raise OSError("Wifi Invalid Mode")
        for k, v in kw.items():
            if k in ("essid", "ssid"):
                self._cfg["essid"] = v
            elif k in ("password", "key"):
                self._cfg["password"] = v
            elif k in ("authmode", "security"):
                self._cfg["authmode"] = v
            elif k == "reconnects":
                if self._if != STA_IF:
                    raise OSError("STA required")
                self._reconnects = 0 if v == -1 else v + 1
            else:
                self._cfg[k] = v
        if self._if == AP_IF:
            _more().announce(self)  # an active AP restarts with the new settings
        return None

    def _retrying(self):
        # still joining: no reconnect limit, or not reached (the port's status() check)
        return self._reconnects == 0 or self._tries < self._reconnects


_env = os.getenv("BUTTONRIG_RADIO")
if _env:
    _update(json.loads(_env))
_rig.on("radio", _update)
_rig.on("ap_join", _ap_join)
