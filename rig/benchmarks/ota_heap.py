"""`ota_min_heap_kb`: the smallest GC heap on which the full firmware takes an OTA update.

`firmware_min_heap_kb` (`min_heap`) is the click session's figure. An OTA job needs more: beside
the session, the jobs agent, the run of its execution (`jobrun`), the `ota` operation and its
download's second TLS connection are on the heap at once. A board sized by the click figure
alone would fail its updates, so this figure is measured too. The session, on a fresh emulated
board per size tried (firmware and shims as .mpy, as `min_heap`), against a real broker and the
cloud model:

1. boot blank, set up through the config page as a customer does, connect;
2. an OTA job for the board (a bundle of the working tree as a new version, served by the local
   cloud's file server): it passes when the execution SUCCEEDED, the board booted the new
   version, and the console shows no `error` event, traceback or MemoryError.

Bisected like `min_heap` (4 KB steps, two sessions in a row must pass; `--quick`: one), between
`FLOOR_KB` (taken to fail) and `CEILING_KB` (checked to pass first).
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from rig.backends.local import local_backend
from rig.cloud.runtime import CloudRuntime, temporary_cloud
from rig.drivers.emulated import EmulatedBoard
from rig.strategies.jobs import JobRunner, ota_bundle
from rig.strategies.provisioning import CustomerSetup

from .min_heap import (
    REPEATS,
    REPEATS_QUICK,
    STEP_KB,
    HeapProbe,
    SessionFailed,
    connected_board,
    expect_or_fail,
    firmware_failed,
    smallest_passing,
)

METRICS = ("ota_min_heap_kb",)

FLOOR_KB = 128
CEILING_KB = 224
JOB_TIMEOUT_S = 90.0


class OtaSession:
    """Set up, connect, take one OTA job, on one heap size (see the module's docstring)."""

    def __init__(self, runtime: CloudRuntime, workdir: Path) -> None:
        self.runtime = runtime
        self.setup = CustomerSetup(local_backend(runtime))
        self.jobs = JobRunner(local_backend(runtime))
        self.workdir = workdir
        self.version = f"0.9.{uuid.uuid4().hex[:6]}"
        _, self.document = ota_bundle(runtime.home, self.version)  # one bundle for every size

    def run(self, kb: int) -> None:
        """Raise SessionFailed unless the update completes cleanly on a `kb` KB heap."""
        with connected_board(self.workdir, "ota", kb, self.setup) as (board, setup):
            thing = setup.serial
            job = self.jobs.create(f"ota-heap-{kb}k-{uuid.uuid4().hex[:6]}", self.document,
                                   things=[thing])["jobId"]  # fmt: skip
            done = self._wait(board, job, thing)
            if done["status"] != "SUCCEEDED":
                raise SessionFailed(f"the job ended {json.dumps(done)[:300]}", True)
            expect_or_fail(board, "boot", fw=self.version)

    def _wait(self, board: EmulatedBoard, job: str, thing: str) -> dict[str, Any]:
        """The execution once terminal; SessionFailed as soon as the firmware reports a failure."""
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while time.monotonic() < deadline:
            execution = self.jobs.execution(job, thing)
            if execution["status"] in ("SUCCEEDED", "FAILED", "REJECTED", "CANCELED"):
                return execution
            if firmware_failed(board):
                raise SessionFailed("the firmware failed during the job", True)
            time.sleep(0.2)
        raise SessionFailed(f"job {job} not ended within {JOB_TIMEOUT_S:.0f} s")


def run(ctx: Any) -> dict[str, int]:
    with temporary_cloud("ota-heap-") as runtime:
        probe = HeapProbe(OtaSession(runtime, Path(ctx.workdir)), REPEATS_QUICK if ctx.quick else REPEATS, "ota_heap")  # fmt: skip
        smallest = smallest_passing(FLOOR_KB, CEILING_KB, STEP_KB, probe.passes)
    failed_below = probe.tried.get(smallest - STEP_KB, "not tried (the floor)")
    print(f"[ota_heap] {smallest - STEP_KB}K failed with: {failed_below[:2000]}", flush=True)
    print(f"[ota_heap] sizes tried: {json.dumps(sorted(probe.tried))}", flush=True)
    return {"ota_min_heap_kb": smallest}
