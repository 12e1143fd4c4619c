"""The shims' parts that no firmware session uses load when first asked for (docs/esp32-differences.md
"Memory"): asked for, they are there and behave as before; a name the ESP32 port lacks is still
missing; and a plain import leaves them unloaded, so they cost an emulated board no GC heap."""

from __future__ import annotations

import json
from pathlib import Path

from host.paths import SHIMS_DIR
from rig.unix_port.process import run_mp

PROBE = """
import json, sys, time
import errno, esp32, machine
out = {"loaded": sorted(m for m in ("_machine_more", "_esp32_more") if m in sys.modules)}
out["errorcode"] = [errno.errorcode[113], errno.errorcode[119], errno.errorcode is errno.errorcode]
nvs = esp32.NVS("ns")
nvs.set_i32("n", 7)
try:
    nvs.get_i32("missing")
    out["nvs"] = [nvs.get_i32("n"), "found"]
except OSError as e:
    out["nvs"] = [nvs.get_i32("n"), e.errno]
esp32.wake_on_ext1([machine.Pin(4), 5], esp32.WAKEUP_ANY_HIGH)
out["esp32"] = [esp32._ext1, esp32.raw_temperature(), esp32.mcu_temperature()]
from machine import Timer, WDT, freq
hits = []
Timer(0).init(mode=Timer.ONE_SHOT, period=20, callback=hits.append)
time.sleep_ms(120)
out["timer"] = [len(hits), type(hits[0]).__name__ if hits else None]
out["machine"] = [freq(), machine.sleep is machine.lightsleep, WDT.__name__]
out["missing"] = [hasattr(machine, "nope"), hasattr(esp32, "Partition"), hasattr(errno, "EPIPE")]
print(json.dumps(out))
"""


def test_the_parts_no_session_uses_load_when_asked_and_behave_as_before(tmp_path: Path) -> None:
    lines = run_mp(PROBE, workdir=tmp_path, path=(SHIMS_DIR,), timeout=60)
    got = json.loads(lines[-1])
    assert got == {
        "loaded": [],  # `import machine, esp32` alone loads neither
        "errorcode": ["ECONNABORTED", "EINPROGRESS", True],  # newlib's numbers
        "nvs": [7, -4354],  # ESP_ERR_NVS_NOT_FOUND
        "esp32": [[[4, 5], 1], 120, 49],
        "timer": [1, "Timer"],  # a one-shot soft IRQ, given the Timer
        "machine": [160000000, True, "WDT"],
        "missing": [False, False, False],  # as on the ESP32 port: no such names
    }


NETWORK = """
import json, sys, time
import _rig
sent = []
_rig.send = sent.append  # what the rig hears (the shim sends through _rig.send)
import network
def loaded():
    return "_network_more" in sys.modules
def err(f, *a, **kw):
    try:
        return f(*a, **kw)
    except Exception as e:
        return [type(e).__name__, str(e)]
def heard():
    r = [m["op"] + ":" + str(m.get("ok", m.get("by", m.get("active", m.get("state"))))) for m in sent]
    sent.clear()
    return r
out = {}
network._update({"aps": [{"ssid": "home", "password": "pw", "rssi": -48}, {"ssid": "open"}], "connect_ms": 0})
network._ap_join({"password": "x"})  # a phone, and no AP
out["no_ap"] = [loaded(), sent[0]["ok"], sent[0]["essid"]]
sent.clear()
# a configured board in session: the station only
w = network.WLAN(network.STA_IF)
w.active(True)
w.config(reconnects=-1)
w.connect("home", "pw")
out["session"] = [w.status(), w.isconnected(), w.ifconfig()[0], w.status("rssi"), err(w.status, "stations")]
w.disconnect()
out["session"] += [w.status(), heard(), loaded()]
# asked for: scan, then the AP (config mode)
out["scan"] = [[s[0].decode(), s[4]] for s in w.scan()] + [loaded()]
ap = network.WLAN(network.AP_IF)
out["ap"] = [type(ap) is network.WLAN, ap.ifconfig()[0], ap.config("essid"), err(ap.config, essid="z"), ap.status(), ap.status("stations"), err(ap.status, "rssi"), err(ap.connect, "home"), err(ap.scan)]
ap.active(True)
ap.config(essid="Cfg", password="secret12", authmode=network.AUTH_WPA2_PSK)
ap.ifconfig(("192.168.0.1", "255.255.255.0", "192.168.0.1", "192.168.0.1"))
network._ap_join({"password": "nope"})
network._ap_join({"password": "secret12"})
out["ap_on"] = [heard(), ap.ifconfig()[0], ap.config("authmode"), ap.isconnected()]
network._update({"connect_ms": 100000})
w.connect("home", "pw")  # the station joins: the AP leaves its channel
network._ap_join({"password": "secret12"})
out["ap_sta"] = heard()
print(json.dumps(out))
"""


def test_network_loads_the_access_point_and_scan_when_asked_and_behaves_as_before(
    tmp_path: Path,
) -> None:
    lines = run_mp(NETWORK, workdir=tmp_path, path=(SHIMS_DIR,), timeout=60)
    got = json.loads(lines[-1])
    assert got == {
        "no_ap": [False, False, None],
        # a configured board's session loads neither the AP's emulation nor scan()
        "session": [
            1010,
            True,
            "10.0.0.2",
            -48,
            ["OSError", "AP required"],
            1000,  # disconnect(): ASSOC_LEAVE, reported as idle
            ["wifi:connect", "wifi:disconnect"],
            False,
        ],
        "scan": [["home", 3], ["open", 0], True],  # WPA2 when there is a password
        "ap": [
            True,  # the same class, as on the port
            "192.168.4.1",  # ESP-IDF's soft-AP defaults
            "ESP_000001",
            ["OSError", "Wifi Invalid Mode"],  # no settings while inactive
            None,
            [],
            ["OSError", "STA required"],
            ["OSError", "STA required"],
            ["OSError", "STA must be active"],
        ],
        "ap_on": [
            ["ap:True", "ap:True", "ap:True", "ap_join:False", "ap_join:True"],
            "192.168.0.1",
            3,
            True,
        ],
        "ap_sta": ["wifi:connect", "ap_disturbed:sta_connect", "ap_join:False"],
    }


SOCKET = """
import json, sys
import socket
def err(f, *a):
    try:
        return f(*a)
    except Exception as e:
        return [type(e).__name__, e.errno if isinstance(e, OSError) else str(e)]
out = {}
# a session's client socket: connect, stream calls, close
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setblocking(False)
out["session"] = ["_socket_more" in sys.modules, hasattr(socket.socket, "bind")]
# the config page's server, and the rest, asked for
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(socket.getaddrinfo("127.0.0.1", 0)[0][-1])
srv.listen(2)
out["asked"] = ["_socket_more" in sys.modules, hasattr(socket.socket, "bind")]
srv.setblocking(False)
out["accept"] = err(srv.accept)
out["missing"] = [hasattr(s, "nope"), hasattr(s, "getsockname"), err(getattr, s, "nope")]
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(0)
out["errors"] = [err(u.recvfrom, 8), err(s.send, b"x"), err(s.sendall, b"x"), err(s.read, 1)]
out["more"] = [s.makefile("rb") is s, isinstance(u.fileno(), int), socket.open_count()]
for x in (s, srv, u):
    x.close()
print(json.dumps(out))
"""


def test_socket_methods_no_session_uses_load_when_asked_and_behave_as_before(
    tmp_path: Path,
) -> None:
    got = json.loads(run_mp(SOCKET, workdir=tmp_path, path=(SHIMS_DIR,), timeout=60)[-1])
    assert got == {
        "session": [False, False],
        "asked": [True, True],  # kept in the class once asked for
        "accept": ["OSError", 11],  # EAGAIN: no one is connecting
        "missing": [False, False, ["AttributeError", "'socket' object has no attribute 'nope'"]],
        "errors": [
            ["OSError", 11],  # EAGAIN: nothing to receive on a non-blocking socket
            ["OSError", 32],  # EPIPE: not connected
            ["OSError", 32],
            ["OSError", 128],  # newlib's ENOTCONN (Linux 107)
        ],
        "more": [True, True, 3],
    }
