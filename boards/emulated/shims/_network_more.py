# The parts of the emulated board's `network` that a configured board in session does not use,
# loaded by the `network` shim when first asked for: the access point's emulation (made by config
# mode only) and the station's scan() (which the firmware never calls). On a chip they are in
# flash, here they would otherwise sit on the GC heap for the life of the process.
# As ports/esp32/network_wlan.c and network_common.c (see network.py).
import _rig
import network
from micropython import const

_STA_IF = const(0)
_AUTH_OPEN = const(0)
_AUTH_WPA2_PSK = const(3)


def ap_defaults(ap):
    # ESP-IDF's soft-AP defaults: open, "ESP_" + MAC, 192.168.4.1
    ap._cfg["essid"] = "ESP_000001"
    ap._ip = ("192.168.4.1", "255.255.255.0", "192.168.4.1", "0.0.0.0")


def announce(ap):
    _rig.send(
        {
            "op": "ap",
            "active": ap._active,
            "essid": ap._cfg["essid"],
            "authmode": ap._cfg["authmode"],
            "ip": ap._ip[0],
        }
    )


def ap_ifconfig(ap, a):
    if a:  # the port restarts the DHCP server on the new address (network_common.c)
        ap._ip = tuple(a[0])
        if ap._active:
            announce(ap)
        return None
    return ap._ip


def ap_join(ap, msg):
    ok = bool(ap._active and msg.get("password") == ap._cfg.get("password"))
    # the AP is off its channel while the station scans/joins (a connect asked for, no link yet)
    sta = network._ifaces.get(_STA_IF)
    ok = ok and not (sta and sta._active and sta._requested and not sta._connected)
    _rig.send({"op": "ap_join", "ok": ok, "essid": ap._cfg.get("essid")})


def scan(w):
    if w._if != _STA_IF or not w._active:
        raise OSError("STA must be active")
    network._ap_disturbed("sta_scan")
    out = []
    for i, ap in enumerate(network._radio["aps"]):
        auth = ap.get("auth", _AUTH_WPA2_PSK if ap.get("password") else _AUTH_OPEN)
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
