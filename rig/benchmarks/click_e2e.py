"""Clicks end to end on emulated boards: random bouncy gestures through the IRQ shim.

Metrics: `click_e2e_gestures` (played), `click_e2e_misclassified` (wrong, missing or extra
clicks), `clicks_only_live_heap_sample_max_bytes`: the highest `peak` of the firmware's `heap`
events while clicking, on a firmware *without its services module* (no Wi-Fi, TLS, MQTT or config
page: the click path only), firmware and shims as .mpy. Each sample is the live heap right after a
`gc.collect()`, taken at boot, at each click and every second: garbage between samples and
anything allocated and freed between them is not seen, so this is not a high-water mark. The
capacity figure for the whole firmware is `firmware_min_heap_kb` (`min_heap`).

The boards run the click path only: the optional `services` module (connectivity) is taken off
their flash. Unconfigured, a DOUBLE would start the configuration access point, which is another
workload (and at 96K it failed with MemoryError when this was written: see the report).
"""

from __future__ import annotations

import json
import random
import threading
from typing import Any

from rig import gestures
from rig.drivers.base import ExpectTimeout
from rig.drivers.emulated import EmulatedBoard

METRICS = (
    "click_e2e_gestures",
    "click_e2e_misclassified",
    "clicks_only_live_heap_sample_max_bytes",
)
GESTURES = 500
GESTURES_QUICK = 40
BOARDS = 8
BOARDS_QUICK = 2
HEAPSIZE = "96K"  # ESP32 without PSRAM: about 100 KB of GC heap
DEBOUNCE_MS, DOUBLE_MS, LONG_MS = 50, 400, 1500
MARGIN_MS = 100  # random timings stay this far from every window edge
# Shortest hold or gap: past debounce even after the longest bounce burst, with a margin.
SHORTEST_MS = DEBOUNCE_MS + gestures.BOUNCE_MAX_MS + 40
LEAD_MS = DOUBLE_MS + 150  # released before each gesture: the previous one is decided
CLICK_TIMEOUT_S = 15.0


def random_gesture(rng: random.Random) -> tuple[str, list[gestures.Step]]:
    kind = rng.choice(("SINGLE", "DOUBLE", "LONG"))
    if kind == "SINGLE":
        steps = gestures.single(rng.randint(SHORTEST_MS, 600), lead_ms=LEAD_MS, rng=rng)
    elif kind == "DOUBLE":
        steps = gestures.double(
            rng.randint(SHORTEST_MS, 300),
            rng.randint(SHORTEST_MS, DOUBLE_MS - MARGIN_MS),
            rng.randint(SHORTEST_MS, 300),
            lead_ms=LEAD_MS,
            rng=rng,
        )
    else:
        steps = gestures.long(
            rng.randint(LONG_MS + MARGIN_MS, LONG_MS + 600), lead_ms=LEAD_MS, rng=rng
        )
    return kind, steps


class _BoardRun:
    """One board playing its share of the gestures."""

    def __init__(self, board: EmulatedBoard, count: int, seed: int) -> None:
        self.board = board
        self.count = count
        self.rng = random.Random(seed)
        self.misclassified = 0
        self.played = 0
        self.error: BaseException | None = None
        self.misses: list[dict[str, Any]] = []  # printed: what to look at when this is not 0

    def run(self) -> None:
        try:
            for _ in range(self.count):
                kind, steps = random_gesture(self.rng)
                self.board.console.skip_to_end()
                self.board.press(steps)
                self.played += 1
                try:
                    got = self.board.expect("click", CLICK_TIMEOUT_S)["type"]
                except ExpectTimeout:
                    got = None
                if got != kind:
                    self.misclassified += 1
                    self.misses.append({"want": kind, "got": got, "steps": steps})
            extra = len(self.board.events("click")) - self.played
            self.misclassified += max(0, extra)
        except BaseException as exc:  # reported by the main thread
            self.error = exc


def run(ctx: Any) -> dict[str, float | int]:
    total = GESTURES_QUICK if ctx.quick else GESTURES
    n_boards = BOARDS_QUICK if ctx.quick else BOARDS
    settings = json.dumps({"schema": 1, "heap_report_s": 1}).encode()
    boards = [
        EmulatedBoard(ctx.workdir / f"b{i}", f"bench{i}", heapsize=HEAPSIZE, mpy=True)
        for i in range(n_boards)
    ]
    try:
        for board in boards:
            board.deploy({"settings.json": settings})
            for name in ("services.py", "services.mpy"):
                (board.flash / name).unlink(missing_ok=True)
            board.start()
        for board in boards:
            board.expect("boot", 30)
        runs = [
            _BoardRun(b, total // n_boards + (i < total % n_boards), seed=1000 + i)
            for i, b in enumerate(boards)
        ]
        threads = [threading.Thread(target=r.run) for r in runs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for r in runs:
            if r.error is not None:
                raise RuntimeError(f"{r.board.name} failed") from r.error
        for r in runs:
            for miss in r.misses:
                print(f"[click_e2e] {r.board.name} misclassified: {json.dumps(miss)}")
        peaks = [e["peak"] for b in boards for e in b.events("heap") if "peak" in e]
        if not peaks:
            raise RuntimeError("the firmware printed no heap event")
        return {
            "click_e2e_gestures": sum(r.played for r in runs),
            "click_e2e_misclassified": sum(r.misclassified for r in runs),
            "clicks_only_live_heap_sample_max_bytes": max(peaks),
        }
    finally:
        for board in boards:
            board.close()
