"""Click to cloud: how long from a click's decision point to its message at the cloud model.

One emulated button (firmware and shims as .mpy, GC heap `HEAPSIZE`) is set up the customer's
way (rig.strategies.provisioning) against a real broker and cloud model, then plays SINGLE and
LONG clicks.

Common clock (rig/benchmarks/_decision.py): the board's `click` event carries its `ticks_ms()`
at the decision point, the host's CLOCK_MONOTONIC modulo 2**30; the cloud model records each
click's receive time on that clock (rig/cloud/clicks/). So latency = cloud receive time - the
decision point, cross-checked against the rig's own gesture timing.

Metrics: `click_to_cloud_ms_p50`, `click_to_cloud_ms_p99` (nearest rank), `click_cloud_clicks`,
`click_cloud_duplicates` (copies the cloud dropped), `network_live_heap_sample_max_bytes` (the
highest `peak` of the firmware's `heap` events with Wi-Fi, TLS and MQTT up, on the x64 unix port:
8-byte words, 32-byte GC blocks; the same objects take about 0.66 of that on a 32-bit MicroPython,
see `heap_wasm32`). Each sample is the live heap right after a `gc.collect()` (at boot, at each
click, every second): not a high-water mark, which MicroPython does not keep. How small a heap the
firmware gets by on is `firmware_min_heap_kb` (`min_heap`).

The sample is then attributed (`_heap.breakdown`, same interpreter and heap size, fresh processes
on a copy of the board's flash) and reported as:
- `firmware_heap_network_own_bytes`: the firmware's own share, the sample less the bare
  interpreter and the emulation shims (which are C modules costing no GC heap on a chip);
- `heap_network_interpreter_bytes`, `heap_network_stdlib_bytes` (asyncio, ssl),
  `heap_network_shims_bytes`, `heap_network_code_bytes` (the firmware modules still imported
  after boot: bytecode, constants, functions, classes, qstrs), `heap_network_boot_bytes` (the
  objects the boot builds, TLS context with parsed certificates included),
  `heap_network_runtime_bytes` (the rest of the sample: tasks, sockets, TLS session, buffers).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from rig.backends.local import local_backend
from rig.benchmarks import _decision, _heap
from rig.cloud.clicks.store import ClickLog
from rig.cloud.runtime import temporary_cloud
from rig.drivers.emulated import EmulatedBoard
from rig.strategies.provisioning import CustomerSetup

METRICS = (
    "click_to_cloud_ms_p50",
    "click_to_cloud_ms_p99",
    "click_cloud_clicks",
    "click_cloud_duplicates",
    "network_live_heap_sample_max_bytes",
    *_heap.METRICS,
)
HEAPSIZE = "160K"  # roomy: latency, not the heap's limit (that is `min_heap`)
WAIT_S = _decision.WAIT_S
CLICKS = 40
CLICKS_QUICK = 10


def _board(workdir: Path, name: str, heapsize: str) -> EmulatedBoard:
    board = EmulatedBoard(
        workdir / name, name, heapsize=heapsize, mpy=True, unique_id=uuid.uuid4().hex[:12]
    )
    board.deploy({"settings.json": json.dumps({"schema": 1, "heap_report_s": 1}).encode()})
    board.start()
    board.expect("boot", WAIT_S)
    return board


def _latencies(board: EmulatedBoard, clicks: ClickLog, serial: str, n: int) -> list[float]:
    out: list[float] = []
    for i in range(n):
        click = _decision.play(board, _decision.kind_of(i))
        event_id = click.event["id"]
        got = {c.event_id: c for c in clicks.wait_for_ids(serial, [event_id], WAIT_S)}
        out.append(click.latency_to(got[event_id].received_mono_ms))
        board.expect("led", WAIT_S, pattern="off")  # the green light is over
    return out


def _heap_sample_max(board: EmulatedBoard) -> int:
    peaks = [e["peak"] for e in board.events("heap") if "peak" in e]
    if not peaks:
        raise RuntimeError("the firmware printed no heap event")
    return max(peaks)


def run(ctx: Any) -> dict[str, float | int]:
    n = CLICKS_QUICK if ctx.quick else CLICKS
    with temporary_cloud("click-cloud-") as runtime:
        assert runtime.endpoint is not None
        clicks = ClickLog(runtime.cloud.store)
        board = _board(ctx.workdir, "bench", HEAPSIZE)
        try:
            setup = CustomerSetup(local_backend(runtime)).provision(board)
            latencies = _latencies(board, clicks, setup.serial, n)
            heap = _heap_sample_max(board)
            duplicates = sum(c.copies - 1 for c in clicks.clicks(setup.serial))
        finally:
            board.close()
        breakdown = _heap.breakdown(board.flash, heap, board.binary)
        print("[click_cloud] live GC heap with the network up, by owner (bytes, x64):")
        print(breakdown.table())
    return {
        "click_to_cloud_ms_p50": round(_decision.percentile(latencies, 50), 1),
        "click_to_cloud_ms_p99": round(_decision.percentile(latencies, 99), 1),
        "click_cloud_clicks": len(latencies),
        "click_cloud_duplicates": duplicates,
        "network_live_heap_sample_max_bytes": heap,
        **_heap.metrics(breakdown),
    }
