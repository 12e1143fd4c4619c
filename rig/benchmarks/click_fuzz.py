"""Fuzz the pure click detector (firmware/clicks.py) on CPython and on the unix port.

Metrics: `click_fuzz_gestures` (gestures replayed, summed over both interpreters) and
`click_fuzz_misclassified` (gestures whose event type or decision time differs from the oracle).

The vector generator and the oracle live here so the tests (tests/firmware/test_clicks*.py) and
the benchmark judge the detector by the same rules. A vector is a JSON object:
`{"cfg": [debounce, double, long], "ops": [["e", t, level] | ["c", t, debounce, double, long]],
"expect": [[type, t], ...]}` with times in ms relative to a base the replay chooses (so the same
vector also runs across the ticks wraparound).
"""

from __future__ import annotations

import importlib.util
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from host.paths import FIRMWARE_DIR
from rig.unix_port.process import run_mp

METRICS = ("click_fuzz_gestures", "click_fuzz_misclassified")

Pick = Callable[[int, int], int]  # pick(lo, hi) -> an int in [lo, hi]
Vector = dict[str, Any]

BOUNCE_MAX_MS = 20
DEBOUNCE_RANGE = (BOUNCE_MAX_MS + 1, 120)  # any bounce gap stays shorter than debounce_ms
MARGIN_MS = 25  # double_ms and long_ms exceed debounce_ms by at least this much

# The replay loop, MicroPython-compatible; exec'd on CPython and run by the unix port alike.
REPLAY_SRC = r'''
def replay(vec, back, ClickDetector, add, diff):
    """Feed one vector with its base `back` ms before tick 0; poll at every deadline."""
    base = add(0, -back)
    det = ClickDetector(*vec["cfg"])
    out = []

    def until(t):
        for _ in range(10000):
            dl = det.deadline()
            if dl is None or (t is not None and diff(dl, t) > 0):
                return
            kind = det.poll(dl)
            if kind is not None:
                out.append([kind, diff(det.decided_at, base), diff(dl, base)])
        raise RuntimeError("deadline() does not advance")

    for op in vec["ops"]:
        t = add(base, op[1])
        until(t)
        if op[0] == "e":
            det.feed(op[2], t)
        else:
            det.configure(op[2], op[3], op[4])
    until(None)
    return {"events": out, "idle": det.idle()}
'''

MP_MAIN = r"""
import json, sys
from clicks import ClickDetector, add, diff
with open(sys.argv[1]) as f:
    backs = json.load(f)["backs"]
with open("vectors.jsonl") as f:  # one vector per line: the heap holds one at a time
    for line in f:
        vec = json.loads(line)
        for back in backs:
            print(json.dumps(replay(vec, back, ClickDetector, add, diff)))
"""


@dataclass
class _Timeline:
    """Raw samples plus what the oracle needs: intended transitions, glitches, config changes."""

    ops: list[list[Any]] = field(default_factory=list)
    transitions: list[tuple[bool, int, int]] = field(default_factory=list)  # level, first, last
    glitches: list[tuple[int, int]] = field(default_factory=list)  # first, last edge
    configs: list[tuple[int, tuple[int, int, int]]] = field(default_factory=list)


def _pick_cfg(pick: Pick) -> tuple[int, int, int]:
    debounce = pick(*DEBOUNCE_RANGE)
    double = pick(debounce + MARGIN_MS, 900)
    long = pick(debounce + MARGIN_MS, 3000)
    return debounce, double, long


def _near(pick: Pick, threshold: int, lo: int, spread: int) -> int:
    """An interval just inside, at, or just outside `threshold`, or anywhere on either side."""
    choice = pick(0, 6)
    if choice <= 2:
        value = threshold - 1 + choice
    elif choice <= 4:
        value = pick(lo, max(lo, threshold - 1))
    else:
        value = pick(threshold, threshold + spread)
    return max(value, lo)


def _burst(pick: Pick, tl: _Timeline, level: bool, first: int) -> int:
    """Edges of one bounced transition to `level` starting at `first`; returns the last edge."""
    tl.ops.append(["e", first, int(level)])
    last = first
    toggles = 2 * pick(0, 4)
    if toggles:
        length = pick(toggles, BOUNCE_MAX_MS)
        times = sorted(random.Random(pick(0, 1 << 30)).sample(range(1, length + 1), toggles))
        for k, dt in enumerate(times):
            bounced = level if k % 2 else not level
            tl.ops.append(["e", first + dt, int(bounced)])
            last = first + dt
    if pick(0, 3) == 0:  # an IRQ that read the final level late
        tl.ops.append(["e", last + pick(0, 3), int(level)])
    tl.transitions.append((level, first, last))
    return last


def _stable_period(
    pick: Pick, tl: _Timeline, level: bool, start: int, end: int, deb: tuple[int, int]
) -> None:
    """Maybe a glitch (shorter than debounce) while the level is stable in [start, end)."""
    deb_min, deb_max = deb
    width = pick(1, deb_min - 1)
    s_lo, s_hi = start + deb_max, end - width - deb_max
    if s_hi < s_lo or pick(0, 2):
        return
    s = pick(s_lo, s_hi)
    tl.ops.append(["e", s, int(not level)])
    tl.ops.append(["e", s + width, int(level)])
    tl.glitches.append((s, s + width))


def generate(pick: Pick, gestures: int) -> Vector:
    """A vector of about `gestures` button gestures with timings around every threshold."""
    cfgs = [_pick_cfg(pick)]
    tl = _Timeline()
    t = pick(0, 50)
    presses = gestures + pick(0, gestures // 2)  # extra presses become DOUBLEs or gestures
    for _ in range(pick(0, 2)):
        cfgs.append(_pick_cfg(pick))
    deb = (min(c[0] for c in cfgs), max(c[0] for c in cfgs))
    cfg = cfgs[0]
    change_at = sorted(pick(0, presses - 1) for _ in cfgs[1:])
    for n in range(presses):
        while change_at and change_at[0] == n:  # a timing change in the gap before this press
            change_at.pop(0)
            cfg = cfgs[len(tl.configs) + 1]
            when = t - pick(1, 60) if n else t
            tl.ops.append(["c", when, *cfg])
            tl.configs.append((when, cfg))
            if not n:  # before the very first press
                t += 1
        min_hold = BOUNCE_MAX_MS + deb[1] + 1
        last = _burst(pick, tl, True, t)
        hold = _near(pick, cfg[2], min_hold, 1500)
        _stable_period(pick, tl, True, last, t + hold, deb)
        t += hold
        last = _burst(pick, tl, False, t)
        gap = _near(pick, cfg[1], min_hold + 60, 1200)
        _stable_period(pick, tl, False, last, t + gap, deb)
        t += gap
    tl.ops.sort(key=lambda op: (op[1], 0 if op[0] == "c" else 1))
    tl.configs.sort(key=lambda c: c[0])
    expect = oracle(cfgs[0], tl.transitions, tl.configs, tl.glitches)
    return {"cfg": list(cfgs[0]), "ops": tl.ops, "expect": expect}


def oracle(
    cfg0: tuple[int, int, int],
    transitions: list[tuple[bool, int, int]],
    configs: list[tuple[int, tuple[int, int, int]]],
    glitches: list[tuple[int, int]],
) -> list[list[Any]]:
    """The events the module docstring of firmware/clicks.py promises, from the intended times."""
    events: list[list[Any]] = []
    cfg, ci, i = cfg0, 0, 0
    while i < len(transitions):
        press, release = transitions[i], transitions[i + 1]
        while ci < len(configs) and configs[ci][0] <= press[1]:
            cfg = configs[ci][1]
            ci += 1
        deb, dbl, lng = cfg

        def delayed(t: int, deb: int = deb) -> int:
            for first, last in glitches:  # a glitch spanning a threshold postpones it
                if first < t < last + deb:
                    return last + deb
            return t

        if release[1] - press[1] >= lng:
            events.append(["LONG", delayed(max(press[1] + lng, press[2] + deb))])
            i += 2
        elif i + 2 < len(transitions) and transitions[i + 2][1] - release[1] < dbl:
            events.append(["DOUBLE", transitions[i + 2][2] + deb])
            i += 4
        else:
            events.append(["SINGLE", delayed(max(release[1] + dbl, release[2] + deb))])
            i += 2
    return events


def load_clicks() -> ModuleType:
    """firmware/clicks.py imported on CPython (without putting firmware/ on sys.path)."""
    spec = importlib.util.spec_from_file_location("fw_clicks", FIRMWARE_DIR / "clicks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def replay_cpython(vectors: list[Vector], backs: list[int]) -> list[dict[str, Any]]:
    clicks = load_clicks()
    scope: dict[str, Any] = {}
    exec(REPLAY_SRC, scope)
    replay = scope["replay"]
    return [
        replay(vec, back, clicks.ClickDetector, clicks.add, clicks.diff)
        for vec in vectors
        for back in backs
    ]


def replay_micropython(
    vectors: list[Vector], backs: list[int], workdir: Path
) -> list[dict[str, Any]]:
    jsonl = "".join(json.dumps(vec) + "\n" for vec in vectors).encode()
    lines = run_mp(
        REPLAY_SRC + MP_MAIN, {"backs": backs}, workdir=workdir, files={"vectors.jsonl": jsonl}
    )
    return [json.loads(line) for line in lines]


def mismatches(
    vectors: list[Vector], backs: list[int], results: list[dict[str, Any]]
) -> list[str]:
    """Human-readable differences between results and each vector's expected events."""
    problems: list[str] = []
    for k, result in enumerate(results):
        vec = vectors[k // len(backs)]
        want = [[kind, t, t] for kind, t in vec["expect"]]  # decided at t, and polled at t
        if result["events"] != want or not result["idle"]:
            problems.append(
                f"vector {k // len(backs)} (base {backs[k % len(backs)]} ms before tick 0): "
                f"expected {want}, got {result['events']} idle={result['idle']}"
            )
    return problems


def misclassified(vectors: list[Vector], backs: list[int], results: list[dict[str, Any]]) -> int:
    """Gestures whose event (type and decision time) differs from the oracle, per replay."""
    wrong = 0
    for k, result in enumerate(results):
        want = [[kind, t, t] for kind, t in vectors[k // len(backs)]["expect"]]
        got = result["events"]
        wrong += sum(1 for j, w in enumerate(want) if j >= len(got) or got[j] != w)
        wrong += max(0, len(got) - len(want))
    return wrong


def random_vectors(seed: int, count: int, gestures: int = 6) -> list[Vector]:
    rng = random.Random(seed)
    return [generate(rng.randint, gestures) for _ in range(count)]


def run(ctx: Any) -> dict[str, int]:
    per_interpreter = 1_000 if ctx.quick else 10_000
    vectors: list[Vector] = []
    seed = 1
    while sum(len(v["expect"]) for v in vectors) < per_interpreter:
        vectors.extend(random_vectors(seed, 50))
        seed += 1
    backs = [3000]  # every vector crosses the ticks wraparound
    gestures = sum(len(v["expect"]) for v in vectors) * len(backs)
    cp = replay_cpython(vectors, backs)
    mp = replay_micropython(vectors, backs, ctx.workdir)
    return {
        "click_fuzz_gestures": 2 * gestures,
        "click_fuzz_misclassified": misclassified(vectors, backs, cp)
        + misclassified(vectors, backs, mp),
    }
