"""The ESP32's clock on the emulated board (docs/esp32-differences.md "Time: epoch, ticks, wake").

The shims give the firmware the ESP32 port's 2000 epoch and let the board's TLS judge certificate
dates by the board's RTC, as mbedTLS does on the chip. firmware/clock.py must find the epoch as
micropython-lib's ntptime does, set the RTC to the right year from SNTP, and a cold boot without
SNTP must not try a handshake that mbedTLS would refuse.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from cert_kit import DER, PEM, ThrowawayCa

from host.paths import FIRMWARE_DIR, SHIMS_DIR
from rig.unix_port.process import run_mp

REPO = FIRMWARE_DIR.parent
NTP_DELTA_1970 = 2208988800
COLD = {"BUTTONRIG_COLD_RTC": "1"}  # a power-on: the RTC reads 2000-01-01
APP_MAIN = "import app\napp.main()\n"  # the firmware's own main loop, services.py from `files`


def board_run(
    tmp_path: Path,
    src: str,
    env: dict[str, str] | None = None,
    files: dict[str, bytes] | None = None,
) -> list[str]:
    """`src` on the unix port in a flash directory with the emulated board's board.py (and
    `files` written there)."""
    flash = tmp_path / "flash"
    flash.mkdir(exist_ok=True)
    shutil.copy(REPO / "boards" / "emulated" / "board.py", flash / "board.py")
    return run_mp(
        src, workdir=flash, path=(FIRMWARE_DIR, SHIMS_DIR), files=files, env=env, timeout=60
    )


def last_json(lines: list[str]) -> object:
    return json.loads(lines[-1])


def ntp_reply(unix_seconds: int) -> bytes:
    reply = bytearray(48)
    reply[0] = 0x24  # LI 0, version 4, mode 4 (server)
    struct.pack_into("!I", reply, 40, unix_seconds + NTP_DELTA_1970)
    return bytes(reply)


@contextmanager
def serving(sock: socket.socket, serve_one: Callable[[], None]) -> Iterator[int]:
    """`serve_one` called again and again in a thread until the block ends (one that times out
    waiting on `sock` is simply called again); yields `sock`'s port and closes it at the end."""
    sock.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                serve_one()
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        sock.close()


@contextmanager
def ntp_server(unix_seconds: int | None = None) -> Iterator[int]:
    """A one-socket SNTP server on loopback answering with `unix_seconds` (default: now)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))

    def answer() -> None:
        _, peer = sock.recvfrom(48)
        sock.sendto(ntp_reply(unix_seconds or int(time.time())), peer)

    with serving(sock, answer) as port:
        yield port


@contextmanager
def accepting(handle: Callable[[socket.socket], None]) -> Iterator[int]:
    """A TCP listener on loopback that hands each connection it accepts to `handle`, in its own
    thread, until the block ends; yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    with serving(listener, lambda: handle(listener.accept()[0])) as port:
        yield port


@contextmanager
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A TLS server on loopback (its certificate valid from now for 400 days, for 127.0.0.1
    and localhost) that answers any record with a CONNACK; yields its port and a directory with
    ca.der, cert.der and key.der."""
    ca = ThrowawayCa()
    server = ca.short_lived_server(400, "127.0.0.1", "localhost")
    client = ca.client("button-clock-test")
    pki = tmp_path / "pki"
    pki.mkdir()
    (pki / "server.pem").write_bytes(server.cert_bytes(PEM) + server.key_bytes(PEM))
    (pki / "ca.der").write_bytes(ca.cert_bytes(DER))
    (pki / "cert.der").write_bytes(client.cert_bytes(DER))
    (pki / "key.der").write_bytes(client.key_bytes(DER))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki / "server.pem")

    def answer(conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls:
                if tls.recv(64):
                    tls.sendall(b"\x20\x02\x00\x00")  # CONNACK, accepted
        except (OSError, ssl.SSLError):
            pass  # the board refused us: what some tests expect

    with accepting(answer) as port:
        yield port, pki


CONNECT = """
import asyncio, json, machine, mqtt, time
from fault import Fault
SET = {set!r}
if SET:
    machine.RTC().datetime(SET)
ctx = mqtt.tls_context(open("{pki}/cert.der", "rb").read(), open("{pki}/key.der", "rb").read(),
                       open("{pki}/ca.der", "rb").read())
async def main():
    c = mqtt.Client("button-clock-test", "127.0.0.1", {port}, ctx)
    try:
        await c.connect()
        return "up"
    except Fault as e:
        return e.kind
print(json.dumps([asyncio.run(main()), time.gmtime()[0]]))
"""


def test_the_firmware_sees_the_2000_epoch_and_trusts_a_set_rtc(tmp_path: Path) -> None:
    src = (
        "import clock, json, time\n"
        "print(json.dumps([time.gmtime(0)[0], clock.valid(), clock.needs_sync(), clock.iso_now()]))"
    )
    epoch, valid, needs_sync, now = last_json(board_run(tmp_path, src))  # type: ignore[misc]
    assert epoch == 2000
    assert (valid, needs_sync) == (True, False)
    stamped = time.mktime(time.strptime(now[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    assert abs(stamped - time.time()) < 30, now


def test_an_ntp_reply_gives_the_right_date_in_the_ports_epoch(tmp_path: Path) -> None:
    reply = list(ntp_reply(1795314897))  # 2026-11-22T02:34:57Z
    src = (
        f"import clock, json, time\nreply = bytes({reply})\n"
        "print(json.dumps(time.gmtime(clock.ntp_seconds(reply))[:6]))"
    )
    assert last_json(board_run(tmp_path, src)) == [2026, 11, 22, 2, 34, 57]


def test_sntp_sets_the_rtc_of_a_cold_board_to_the_right_year(tmp_path: Path) -> None:
    src = """
import asyncio, clock, json, machine
before = clock.valid()
synced = asyncio.run(clock.sync("127.0.0.1", 3000, {port}))
print(json.dumps([before, synced, clock.valid(), machine.RTC().datetime()[:3], clock.iso_now()]))
"""
    with ntp_server(1795314897) as port:
        got = last_json(board_run(tmp_path, src.format(port=port), env=COLD))
    before, synced, valid, date, now = got  # type: ignore[misc]
    assert (before, synced, valid) == (False, True, True)
    assert date == [2026, 11, 22]
    assert now.startswith("2026-11-22T02:3"), now


def test_the_boards_tls_checks_certificate_dates_against_its_rtc(tmp_path: Path) -> None:
    """The shim: mbedTLS on the chip refuses a certificate the RTC says is expired or not yet
    valid; the same board with a right clock connects."""
    results = {}
    with tls_server(tmp_path) as (port, pki):
        for name, rtc, env in [
            ("right", None, None),
            ("30 years ahead", (2056, 11, 22, 1, 2, 34, 57, 0), None),
            ("cold", None, COLD),
        ]:
            run = tmp_path / name.replace(" ", "-")
            run.mkdir()
            src = CONNECT.format(set=rtc, pki=pki, port=port)
            results[name] = last_json(board_run(run, src, env=env))
    assert results["right"][0] == "up"
    assert results["30 years ahead"] == ["tls", 2056]
    assert results["cold"] == ["tls", 2000]


def test_a_cold_board_sets_its_clock_by_sntp_before_tls(tmp_path: Path) -> None:
    src = """
import asyncio, clock, json, mqtt, time
from fault import Fault
ctx = mqtt.tls_context(open("{pki}/cert.der", "rb").read(), open("{pki}/key.der", "rb").read(),
                       open("{pki}/ca.der", "rb").read())
async def main():
    await clock.sync("127.0.0.1", 3000, {ntp})
    c = mqtt.Client("button-clock-test", "127.0.0.1", {port}, ctx)
    try:
        await c.connect()
        return "up"
    except Fault as e:
        return e.kind + ": " + e.detail
print(json.dumps([asyncio.run(main()), time.gmtime()[0]]))
"""
    with tls_server(tmp_path) as (port, pki), ntp_server() as ntp:
        got = last_json(board_run(tmp_path, src.format(pki=pki, port=port, ntp=ntp), env=COLD))
    assert got == ["up", time.gmtime().tm_year]


def test_a_cold_boot_without_sntp_tries_no_handshake_and_says_why(tmp_path: Path) -> None:
    """Decision: with the RTC at 2000 every certificate is not yet valid to mbedTLS. The session
    fails at once as `tls` "clock not set" (no connection to the broker); SNTP is tried again
    before each retry."""
    src = """
import asyncio, clock, connection, json, mqtt
ctx = mqtt.tls_context(open("{pki}/cert.der", "rb").read(), open("{pki}/key.der", "rb").read(),
                       open("{pki}/ca.der", "rb").read())
tries = []
_sync = clock.sync
async def sync():
    tries.append(1)
    return await _sync("127.0.0.1", 200, {dead})  # nobody answers there
clock.sync = sync
class Led:
    def show(self, pattern):
        print("LED", pattern)
class App:
    led = Led()
class Station:
    def __init__(self):
        self.up = asyncio.Event()
        self.up.set()
conn = connection.Connection(App(), mqtt.Client("button-clock-test", "127.0.0.1", {port}, ctx),
                           Station(), "127.0.0.1")
conn.BACKOFF_BASE_MS = conn.BACKOFF_MAX_MS = 100
async def main():
    task = asyncio.create_task(conn.run())
    await asyncio.sleep_ms(1500)
    task.cancel()
asyncio.run(main())
print("TRIES", len(tries))
"""
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dead.bind(("127.0.0.1", 0))  # bound, never read: SNTP times out
    accepted: list[socket.socket] = []
    try:
        with tls_server(tmp_path) as (_, pki), accepting(accepted.append) as port:
            src = src.format(pki=pki, port=port, dead=dead.getsockname()[1])
            lines = board_run(tmp_path, src, env=COLD)
    finally:
        dead.close()
        for conn in accepted:
            conn.close()
    events = [json.loads(line[4:]) for line in lines if line.startswith("EVT ")]
    downs = [e for e in events if e["ev"] == "mqtt"]
    assert downs, lines
    assert all(e == {"ev": "mqtt", "state": "down", "kind": "tls", "msg": "clock not set"}
               for e in downs), downs  # fmt: skip
    assert {"ev": "error", "code": "clock", "msg": "OSError: NTP timeout"} in events
    assert accepted == []  # no TCP connection, so no handshake, was tried
    tries = int(next(line for line in lines if line.startswith("TRIES ")).split()[1])
    assert len(downs) >= 2 and tries - len(downs) in (0, 1), lines  # the last may be cut short
    assert "LED err_tls" in lines


PRESS_DURING_CONNECT = """
import _thread, asyncio, json, time, _rig, mqtt
from fault import Fault
def play():
    time.sleep_ms(300)
    _rig.set_level(0, 0)  # pressed for 200 ms while the handshake's crypto runs
    time.sleep_ms(200)
    _rig.set_level(0, 1)
class Connect:
    def __init__(self, app):
        self.seen = []
    def on_click(self, event):
        self.seen.append(event["type"])
    async def run(self):
        await asyncio.sleep_ms(300)
        ctx = mqtt.tls_context(open("{pki}/cert.der", "rb").read(),
                               open("{pki}/key.der", "rb").read(), open("{pki}/ca.der", "rb").read())
        c = mqtt.Client("button-clock-test", "127.0.0.1", {port}, ctx)
        _thread.start_new_thread(play, ())
        t0 = time.ticks_ms()
        try:
            await c.connect()
            how = "up"
        except Fault as e:
            how = e.kind
        took = time.ticks_diff(time.ticks_ms(), t0)
        await asyncio.sleep_ms(2000)  # a SINGLE is decided double_ms after the release
        print("RESULT " + json.dumps([how, took, self.seen]))
        raise SystemExit
def register(app):
    app.add(Connect(app))
"""


def test_a_press_during_a_tls_handshake_is_a_click(tmp_path: Path) -> None:
    """The handshake's crypto is one blocking C call on the chip (modelled: 1500 ms in the
    verify callback); a press and its release during it reach the firmware together, late."""
    with tls_server(tmp_path) as (port, pki):
        files = {
            "services.py": PRESS_DURING_CONNECT.format(pki=pki, port=port).encode(),
            # long_ms 3000: on a loaded machine the press may come before the handshake's
            # crypto and only the release be held back, a press of about 1.5 s
            "settings.json": json.dumps(
                {"schema": 1, "heap_report_s": 0, "long_ms": 3000}
            ).encode(),
        }
        lines = board_run(tmp_path, APP_MAIN, env={"BUTTONRIG_TLS_BLOCK_MS": "1500"}, files=files)
    how, took, seen = json.loads(next(line for line in lines if line.startswith("RESULT "))[7:])
    assert how == "up" and took >= 1500, lines
    assert seen == ["SINGLE"], lines


HOLD_ACROSS_CONNECT = """
import _thread, asyncio, json, time, _rig, button, mqtt
from fault import Fault
button.Button.LONG_HOLD_MS = 2500
marks = {{}}
def play():
    _rig.set_level(0, 0)  # pressed before the connect, released well after it
    marks["press"] = time.ticks_ms()
    time.sleep_ms(3000)
    _rig.set_level(0, 1)
class Connect:
    def __init__(self, app):
        self.seen = []
    def on_click(self, event):
        self.seen.append([event["type"], event["t"]])
    def on_long_hold(self, ms):
        self.seen.append(["HOLD", ms])
    async def run(self):
        await asyncio.sleep_ms(300)
        ctx = mqtt.tls_context(open("{pki}/cert.der", "rb").read(),
                               open("{pki}/key.der", "rb").read(), open("{pki}/ca.der", "rb").read())
        c = mqtt.Client("button-clock-test", "localhost", {port}, ctx)
        _thread.start_new_thread(play, ())
        await asyncio.sleep_ms(200)
        t0 = time.ticks_ms()
        try:
            await c.connect()
            how = "up"
        except Fault as e:
            how = e.kind
        took = time.ticks_diff(time.ticks_ms(), t0)
        await asyncio.sleep_ms(3500)
        print("RESULT " + json.dumps([how, took, marks["press"], self.seen]))
        raise SystemExit
def register(app):
    app.add(Connect(app))
"""


def test_a_long_hold_across_a_connect_is_measured_from_its_edges(tmp_path: Path) -> None:
    """The emulated board's defaults block as the chip does (a name lookup: 100 ms, the TLS
    handshake: 1000 ms). A press made before the connect and released after it: its edges' soft
    IRQs ran on time, so it is a LONG decided long_ms after the press, though the firmware was
    inside the handshake then, and its hold is reported at LONG_HOLD_MS, not later."""
    with tls_server(tmp_path) as (port, pki):
        files = {
            "services.py": HOLD_ACROSS_CONNECT.format(pki=pki, port=port).encode(),
            "settings.json": json.dumps({"schema": 1, "heap_report_s": 0}).encode(),
        }
        lines = board_run(tmp_path, APP_MAIN, files=files)
    line = next(line for line in lines if line.startswith("RESULT "))
    how, took, pressed, seen = json.loads(line[7:])
    assert how == "up" and took >= 1100, lines  # the defaults: DNS 100 ms + handshake 1000 ms
    assert [kind for kind, _ in seen] == ["LONG", "HOLD"], lines
    long_at = seen[0][1]
    assert 0 <= long_at - (pressed + 1500) <= 30, lines  # long_ms after the press, to the ms
    assert 2500 <= seen[1][1] < 2700, lines
