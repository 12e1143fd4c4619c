"""The connectivity services' wiring (firmware/services.py, as app.App loads it) and config mode
(firmware/configmode.py) on the unix port (with the emulated shims, no rig): which services a
blank and a configured board get, what stays imported, config mode's time-out and what keeps the
board awake. How a refused click is reported: tests/firmware/test_mqtt_tls.py (mqtt.Client)."""

from __future__ import annotations

import json
from pathlib import Path

from host.paths import FIRMWARE_DIR, SHIMS_DIR
from rig.cloud.certificates.ca import CertificateAuthority
from rig.unix_port.process import run_mp

BOARD_PROFILE = (FIRMWARE_DIR.parent / "boards" / "emulated" / "board.py").read_bytes()

# app.App's own _load_services (import services, register, drop) on a stand-in app
REGISTER = """
import sys, json
import app as firmware_app
class Led:
    def show(self, p):
        print("LED", p)
class App:
    serial = "G030JF055364XVRB"
    def __init__(self):
        self.added = []
        self.led = Led()
        self.busy = {}
    def add(self, s):
        self.added.append(s)
    def set_busy(self, name, busy=True):
        self.busy[name] = busy
    def topic(self):
        return "iotbutton/" + self.serial
    def battery_mv(self):
        return 3000
app = App()
firmware_app.App._load_services(app)
print("ADDED", json.dumps([type(s).__name__ for s in app.added]))
print("MODULES", json.dumps(sorted(m for m in sys.modules if m in
    ("configap", "httpd", "form", "pem", "wifi", "mqtt", "outbox", "clock", "ssl", "shadowagent",
     "jobsagent", "ota", "services", "configmode", "connection", "certs",
     "netcfg"))))
# A function of services' own (a lambda, a closure) held by a kept service would keep the
# module's globals, and through them register's code, alive after app dropped the module.
def holders(obj, depth=2):
    for name, value in getattr(obj, "__dict__", {}).items():
        globs = getattr(value, "__globals__", None)
        if globs is not None and "register" in globs:
            yield type(obj).__name__ + "." + name
        elif depth and hasattr(value, "__dict__") and not hasattr(value, "__globals__"):
            yield from holders(value, depth - 1)
print("HOLD_SERVICES", json.dumps([h for s in app.added for h in holders(s)]))
"""


def _lines(files: dict[str, bytes]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    lines = run_mp(
        REGISTER, path=(FIRMWARE_DIR, SHIMS_DIR), files={"board.py": BOARD_PROFILE, **files}
    )
    for line in lines:
        key, _, rest = line.partition(" ")
        out.setdefault(key, []).append(rest)
    return out


def test_a_blank_board_keeps_config_mode_only_and_no_network_or_session_module() -> None:
    got = _lines({})
    assert json.loads(got["ADDED"][0]) == ["ConfigMode"]
    # config mode's own module; not the session services', nor the wiring (used once)
    assert json.loads(got["MODULES"][0]) == ["configmode"]


def test_a_configured_board_gets_station_connection_and_clicks(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "ca")
    issued = ca.issue_client_certificate("G030JF055364XVRB")
    assert issued.private_key_der is not None
    netcfg = {"ssid": "home", "password": "password123", "host": "localhost", "port": 8883}
    got = _lines(
        {
            "netcfg.json": json.dumps(netcfg).encode(),
            "pki/cert.der": issued.certificate_der,
            "pki/key.der": issued.private_key_der,
            "pki/ca.der": ca.certificate_der,
        }
    )
    assert json.loads(got["ADDED"][0]) == [
        "ConfigMode",
        "Station",
        "Connection",
        "Clicks",
        "LazyAgent",
        "JobsWatch",
    ]
    modules = json.loads(got["MODULES"][0])
    assert "configap" not in modules and "httpd" not in modules  # only when config mode opens
    assert "shadowagent" not in modules  # only once a session is up
    assert "jobsagent" not in modules and "ota" not in modules  # likewise
    assert {"wifi", "mqtt", "outbox", "clock", "configmode", "connection"} <= set(modules)
    # used once at boot: the wiring, and the configuration it read (the TLS context holds it)
    assert not {"services", "certs", "netcfg"} & set(modules)
    assert json.loads(got["HOLD_SERVICES"][0]) == []  # nothing keeps register's code alive


CONFIG_TIMEOUT = """
import asyncio, json
import configmode
class Led:
    def show(self, p):
        print("LED", p)
class App:
    serial = "G030JF055364XVRB"
    def __init__(self):
        self.led = Led()
        self.busy = {}
    def set_busy(self, name, busy=True):
        self.busy[name] = busy
        print("BUSY", name, busy)
    def tell(self, hook, arg):  # app.App's: each service's hook (the station's, on a board)
        print("TELL", hook, arg)
async def main():
    app = App()
    blank = configmode.ConfigMode(app, False, timeout_s=1)
    asyncio.create_task(blank.run())
    await asyncio.sleep(3)  # orange 1 s, config mode 1 s, closed
    held = configmode.ConfigMode(app, True, timeout_s=1)
    asyncio.create_task(held.run())
    await asyncio.sleep_ms(100)
    held.on_long_hold(5999)  # too short (Button.LONG_HOLD_MS): nothing
    await asyncio.sleep_ms(300)
    held.on_long_hold(6000)
    await asyncio.sleep(2)
    print("DONE")
asyncio.run(main())
"""


def test_config_mode_times_out_and_a_hold_keeps_the_board_awake_meanwhile() -> None:
    from rig.broker import free_port

    lines = run_mp(
        CONFIG_TIMEOUT,
        path=(FIRMWARE_DIR, SHIMS_DIR),
        files={"board.py": BOARD_PROFILE},
        env={"BUTTONRIG_AP_PORT": str(free_port())},
    )
    seen = [
        line for line in lines if line.startswith(("LED", "BUSY", "DONE")) or '"config"' in line
    ]
    states = [json.loads(line[4:])["state"] for line in seen if line.startswith("EVT ")]
    assert states == ["open", "closed", "open", "closed"], seen
    leds = [line for line in seen if line.startswith("LED")]
    # blank: orange, blue, orange again after the time-out; held: blue, then off
    assert leds == [
        "LED unconfigured",
        "LED config",
        "LED unconfigured",
        "LED config",
        "LED off",
    ], seen
    busy = [line for line in seen if line.startswith("BUSY")]
    # only the hold keeps the board awake: a blank board's own config mode lets it sleep
    assert busy == ["BUSY config False", "BUSY config True", "BUSY config False"], seen
