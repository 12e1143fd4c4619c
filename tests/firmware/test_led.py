"""firmware/led.py: the pattern table as data (docs/contracts.md), drivers with fake pins, and the
player task on the unix port."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from host.paths import FIRMWARE_DIR, SHIMS_DIR
from rig.unix_port.process import run_mp

sys.path.insert(0, str(FIRMWARE_DIR))
led: Any = importlib.import_module("led")  # the firmware module, run by CPython

S, L, GAP, PAUSE = 200, 600, 200, 1000
RED_CODES = {  # docs/contracts.md: the Enterprise Button's red patterns
    "err_wifi": "SSS",
    "err_dhcp": "SSL",
    "err_dns": "SLS",
    "err_connect": "SLL",
    "err_tls": "LSS",
    "err_forbidden": "LSL",
}


class FakePin:
    def __init__(self) -> None:
        self.levels: list[int] = []

    def value(self, v: Any = None) -> int | None:
        if v is None:
            return self.levels[-1]
        self.levels.append(1 if v else 0)
        return None


class FakeStrip:
    def __init__(self) -> None:
        self.pixel: tuple[int, int, int] = (9, 9, 9)
        self.writes: list[tuple[int, int, int]] = []

    def __setitem__(self, i: int, rgb: tuple[int, int, int]) -> None:
        assert i == 0
        self.pixel = rgb

    def write(self) -> None:
        self.writes.append(self.pixel)


@pytest.mark.parametrize(("name", "code"), list(RED_CODES.items()))
def test_red_codes_follow_the_table(name: str, code: str) -> None:
    frames = led.frames(name)
    on = [ms for colour, ms in frames if colour == led.RED]
    off = [ms for colour, ms in frames if colour == led.OFF]
    assert on == [S if c == "S" else L for c in code]
    assert off == [GAP, GAP, PAUSE]
    assert led.PATTERNS[name][2] == 3  # shown, then repeated twice more, then off


def test_every_contract_pattern_exists_and_nothing_else() -> None:
    names = {"off", "connecting", "published", "config", "unconfigured", "identify", *RED_CODES}
    assert set(led.PATTERNS) == names


def test_blinks_and_solids() -> None:
    assert led.frames("connecting") == ((led.WHITE, 250), (led.OFF, 250))
    assert led.frames("config") == ((led.BLUE, 250), (led.OFF, 250))
    assert led.frames("unconfigured") == ((led.ORANGE, None),)
    assert led.frames("off") == ((led.OFF, None),)
    assert led.frames("published") == ((led.GREEN, 1000),)
    assert led.PATTERNS["published"][2] == 1


def test_mono_driver_ignores_colour_and_honours_polarity() -> None:
    pin, inverted = FakePin(), FakePin()
    mono, low = led.MonoDriver(pin), led.MonoDriver(inverted, active_low=True)
    for rgb in (led.RED, led.OFF, led.BLUE):
        mono.set(rgb)
        low.set(rgb)
    assert pin.levels == [0, 1, 0, 1]
    assert inverted.levels == [1, 0, 1, 0]


def test_rgb_driver_sets_each_channel() -> None:
    pins = [FakePin(), FakePin(), FakePin()]
    drv = led.RgbDriver(pins)
    drv.set(led.ORANGE)
    assert [p.levels[-1] for p in pins] == [1, 1, 0]
    drv.set(led.BLUE)
    assert [p.levels[-1] for p in pins] == [0, 0, 1]


def test_pixel_driver_scales_and_writes() -> None:
    strip = FakeStrip()
    drv = led.PixelDriver(strip, brightness=255)
    drv.set(led.GREEN)
    assert strip.writes == [(0, 0, 0), (0, 255, 0)]
    dim = led.PixelDriver(FakeStrip(), brightness=51)
    dim.set(led.WHITE)
    assert dim._strip.writes[-1] == (51, 51, 51)


def test_unknown_pattern_is_a_clear_error() -> None:
    player = led.Led(led.MonoDriver(FakePin()))
    with pytest.raises(ValueError, match="unknown LED pattern 'err_nope'"):
        player.show("err_nope")


PLAYER = """
import asyncio, json, time, led
led.PATTERNS["t_short"] = (led.RED, (30, 20, 40), 2)

class Recorder:
    def __init__(self):
        self.log = []
    def set(self, rgb):
        self.log.append([list(rgb), time.ticks_ms()])

async def main():
    rec = Recorder()
    player = led.Led(rec)
    asyncio.create_task(player.run())
    player.show("t_short")
    while player.pattern != "off":
        await asyncio.sleep_ms(5)
    player.show("connecting")
    await asyncio.sleep_ms(5)
    player.show("unconfigured")  # interrupts the blinking at once
    await asyncio.sleep_ms(5)
    t0 = rec.log[0][1]
    print(json.dumps([[c, time.ticks_diff(t, t0)] for c, t in rec.log]))

asyncio.run(main())
"""


def test_player_on_the_unix_port(tmp_path: Path) -> None:
    lines = run_mp(PLAYER, workdir=tmp_path, path=[FIRMWARE_DIR, SHIMS_DIR])
    events = [json.loads(line[4:])["pattern"] for line in lines if line.startswith("EVT ")]
    assert events == ["t_short", "off", "connecting", "unconfigured"]
    log = json.loads(lines[-1])
    colours = [tuple(c) for c, _ in log]
    red, off, white, orange = led.RED, led.OFF, led.WHITE, led.ORANGE
    # init off, pass 1 (red, off, red), pass 2 (red, off, red), off, white blink, orange
    assert colours == [red, off, red, red, off, red, off, white, orange], log
    times = [t for _, t in log]
    # each frame lasts at least its nominal time (sleeps are never shorter)
    assert times[1] - times[0] >= 30 and times[2] - times[1] >= 20 and times[3] - times[2] >= 40


MAKE_DRIVER = """
import json, led, board
drv = led.make_driver(board)
drv.set(led.GREEN)
print(json.dumps(type(drv).__name__))
"""


@pytest.mark.parametrize("kind", ["mono", "rgb", "pixel"])
def test_make_driver_for_each_led_kind(tmp_path: Path, kind: str) -> None:
    pins = {"mono": (2,), "rgb": (25, 26, 27), "pixel": (48,)}[kind]
    profile = f"LED_KIND = {kind!r}\nLED_PINS = {pins!r}\nLED_ACTIVE_LOW = False\n"
    lines = run_mp(
        MAKE_DRIVER,
        workdir=tmp_path,
        path=[FIRMWARE_DIR, SHIMS_DIR],
        files={"board.py": profile.encode()},
    )
    assert (
        json.loads(lines[-1])
        == {"mono": "MonoDriver", "rgb": "RgbDriver", "pixel": "PixelDriver"}[kind]
    )
