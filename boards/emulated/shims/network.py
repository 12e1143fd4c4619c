# Emulated `network` (ESP32 flavour) against a virtual radio the rig configures.
#
# The radio: {"aps": [{"ssid", "password", "rssi", "dhcp", "auth"}], "connect_ms"}. It starts
# from BUTTONRIG_RADIO (JSON) and the rig replaces keys with the side-channel op `radio`
# (docs/contracts.md "Virtual radio"). Modelled here: access points in range, wrong password,
# AP gone (out of range), no DHCP, RSSI. Not modelled (real instead): DNS failure (an
# unresolvable endpoint), TCP refused (a closed port), TLS failure (a broker certificate that does
# not verify) and refusal (the broker refuses the certificate).
# Secrets never leave: the rig learns SSIDs and states, not passwords.
import json
import os

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


def _ticks():
    import time

    return time.ticks_ms()


def _update(msg):
    for k in ("aps", "connect_ms"):
        if k in msg:
            _radio[k] = msg[k]


def _ap_join(msg):
    # the rig plays a phone joining the configuration AP: is the password right?
    ap = _ifaces.get(AP_IF)
    ok = bool(ap and ap._active and msg.get("password") == ap._cfg.get("password"))
    _rig.send({"op": "ap_join", "ok": ok, "essid": ap._cfg.get("essid") if ap else None})


def _find(ssid):
    for ap in _radio["aps"]:
        if ap.get("ssid") == ssid:
            return ap
    return None


class WLAN:
    def __new__(cls, interface=STA_IF):
        if interface not in _ifaces:
            o = object.__new__(cls)
            o._if = interface
            o._active = False
            o._cfg = {"essid": "", "password": "", "authmode": AUTH_OPEN, "channel": 1}
            o._target = None  # (ssid, key) asked for
            o._t0 = 0
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
        if self._if == AP_IF:
            _rig.send(
                {
                    "op": "ap",
                    "active": self._active,
                    "essid": self._cfg["essid"],
                    "authmode": self._cfg["authmode"],
                }
            )
        return None

    def connect(self, ssid=None, key=None, *, bssid=None):  # noqa: ARG002
        if self._if != STA_IF:
            raise OSError("AP interface cannot connect")
        if not self._active:
            raise OSError("Wifi Not Started")
        self._target = (ssid, key or "")
        self._t0 = _ticks()
        _rig.send({"op": "wifi", "state": "connect", "ssid": ssid})

    def disconnect(self):
        self._target = None
        _rig.send({"op": "wifi", "state": "disconnect"})

    def _associated_ap(self):
        # -> (status, ap or None) for the station now
        import time

        if not self._active or self._target is None:
            return STAT_IDLE, None
        if time.ticks_diff(_ticks(), self._t0) < _radio.get("connect_ms", 300):
            return STAT_CONNECTING, None
        ssid, key = self._target
        ap = _find(ssid)
        if ap is None:
            return STAT_NO_AP_FOUND, None
        if (ap.get("password") or "") != key:
            return STAT_WRONG_PASSWORD, None
        if not ap.get("dhcp", True):
            return STAT_CONNECTING, ap  # associated, no IP lease
        return STAT_GOT_IP, ap

    def status(self, param=None):
        if param is None:
            if self._if == AP_IF:
                return STAT_GOT_IP if self._active else STAT_IDLE
            return self._associated_ap()[0]
        if param == "rssi":
            ap = self._associated_ap()[1]
            if ap is None:
                raise OSError("STA is not connected")
            return ap.get("rssi", -60)
        if param == "stations":
            return []
        raise ValueError("unknown status param")

    def isconnected(self):
        if self._if == AP_IF:
            return self._active
        return self._associated_ap()[0] == STAT_GOT_IP

    def ifconfig(self, *a):
        if a:
            return None
        if self._if == AP_IF:
            return ("192.168.0.1", "255.255.255.0", "192.168.0.1", "0.0.0.0")
        if self.isconnected():
            return ("10.0.0.2", "255.255.255.0", "10.0.0.1", "10.0.0.1")
        return ("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0")

    def scan(self):
        if self._if != STA_IF or not self._active:
            raise OSError("STA must be active")
        out = []
        for i, ap in enumerate(_radio["aps"]):
            auth = ap.get("auth", AUTH_WPA2_PSK if ap.get("password") else AUTH_OPEN)
            out.append(
                (
                    ap["ssid"].encode(),
                    bytes((2, 0, 0, 0, 0, i)),
                    6,
                    ap.get("rssi", -60),
                    auth,
                    False,
                )
            )
        return out

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
                raise ValueError("password is write-only")  # as on the ESP32
            return self._cfg.get(k)
        for k, v in kw.items():
            if k in ("essid", "ssid"):
                self._cfg["essid"] = v
            elif k in ("password", "key"):
                self._cfg["password"] = v
            elif k in ("authmode", "security"):
                self._cfg["authmode"] = v
            else:
                self._cfg[k] = v
        return None


_env = os.getenv("BUTTONRIG_RADIO")
if _env:
    _update(json.loads(_env))
_rig.on("radio", _update)
_rig.on("ap_join", _ap_join)
