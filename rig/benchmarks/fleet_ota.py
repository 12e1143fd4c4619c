"""OTA to a fleet of emulated buttons, end to end (issue 13; README "Benchmarks").

* `fleet_ota_boards`: N, the boards in the thing group (50; a quick run 5). Each is the real
  firmware (.mpy; the driver's default heap: the x64 unix port needs more than an ESP32 for the
  same objects, see `min_heap`) on the unix port, its identity written on its flash
  (rig/strategies/fleet.py), connected through the real broker to the reference cloud.
* `fleet_ota_seconds`: from create-job (one OTA job to the group, a bundle of the working tree
  under a new version) to the last member's execution SUCCEEDED, as the cloud records it (the
  control plane polled every 0.1 s).
* `fleet_ota_failed`: members whose execution ended in anything but SUCCEEDED, or that do not
  boot the new version (goal 0).
* `ota_power_cut_runs` / `ota_power_cut_wrong`: OTA jobs to one board, each cut at a random
  instant of its download or of its unpack and A/B switch (rig/strategies/jobs.py PowerCutRun;
  50, a quick run 6), and those after which the board ran neither version or the job's final
  state did not say which one it runs (goal 0).

No figure is written when a run does not finish (the harness drops a module that raises).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from rig.backends.local import local_backend
from rig.cloud.runtime import CloudRuntime, temporary_cloud
from rig.drivers.emulated import EmulatedBoard
from rig.strategies.fleet import set_up_fleet
from rig.strategies.jobs import JobRunner, PowerCutRun, ota_bundle

METRICS = (
    "fleet_ota_boards",
    "fleet_ota_seconds",
    "fleet_ota_failed",
    "ota_power_cut_runs",
    "ota_power_cut_wrong",
)
BOARDS, BOARDS_QUICK = 50, 5
CUTS, CUTS_QUICK = 50, 6
UP_S = 300.0  # N sessions coming up on a loaded 2-core machine
JOB_S = 600.0


def _boards(workdir: Path, n: int, tag: str) -> list[EmulatedBoard]:
    boards = []
    for i in range(n):
        board = EmulatedBoard(workdir / f"b{i}", f"fleet{i}", mpy=True, unique_id=f"f{tag}{i:05d}")
        boards.append(board)
        board.deploy()
    return boards


def fleet(runtime: CloudRuntime, workdir: Path, n: int) -> dict[str, int | float]:
    assert runtime.endpoint is not None
    tag = uuid.uuid4().hex[:6]
    boards = _boards(workdir, n, tag)
    try:
        things = set_up_fleet(runtime.cloud, runtime.endpoint, boards, f"bench-{tag}")
        for board in boards:
            board.expect("mqtt", UP_S, state="up")
        version = f"9.0.{tag}"
        _, document = ota_bundle(runtime.home, version)
        jobs = JobRunner(local_backend(runtime))
        started = time.monotonic()
        jobs.create(f"fleet-{tag}", document, groups=[f"bench-{tag}"])
        done = jobs.wait(f"fleet-{tag}", things, timeout=JOB_S)
        seconds = time.monotonic() - started
        failed = sum(
            1
            for board, thing in zip(boards, things, strict=True)
            if done[thing]["status"] != "SUCCEEDED" or board.events("boot")[-1]["fw"] != version
        )
    finally:
        for board in boards:
            board.close()
    print(f"fleet OTA: {n} boards, {seconds:.1f} s, {failed} failed")
    return {
        "fleet_ota_boards": n,
        "fleet_ota_seconds": round(seconds, 2),
        "fleet_ota_failed": failed,
    }


def power_cuts(runtime: CloudRuntime, workdir: Path, cuts: int) -> dict[str, int | float]:
    assert runtime.endpoint is not None
    tag = uuid.uuid4().hex[:6]
    board = _boards(workdir / "cuts", 1, tag)[0]
    try:
        thing = set_up_fleet(runtime.cloud, runtime.endpoint, [board], f"cuts-{tag}")[0]
        board.expect("mqtt", UP_S, state="up")
        documents = [ota_bundle(runtime.home, f"9.1.{tag}.{i}")[1] for i in range(2)]
        runs = PowerCutRun(local_backend(runtime), board, thing, documents)
        outcomes = [runs.once() for _ in range(cuts)]
    finally:
        board.close()
    print(runs.summary(outcomes))
    wrong = sum(1 for o in outcomes if not o.consistent)
    return {"ota_power_cut_runs": len(outcomes), "ota_power_cut_wrong": wrong}


def run(ctx: Any) -> dict[str, int | float]:
    results: dict[str, int | float] = {}
    with temporary_cloud(prefix="bench-fleet-ota-") as runtime:
        results.update(fleet(runtime, ctx.workdir, BOARDS_QUICK if ctx.quick else BOARDS))
        results.update(power_cuts(runtime, ctx.workdir, CUTS_QUICK if ctx.quick else CUTS))
    return results
