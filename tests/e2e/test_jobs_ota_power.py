"""Power cuts (the board process SIGKILLed) at random points of an OTA job, watched on the flash:
during the download, the unpack, the A/B switch and the new firmware's trial boot. The board always comes up on the old or the new firmware, never
neither, and the job's final state says which (SUCCEEDED only when the new one runs). This test
runs CUTS of them; `python -m rig.benchmarks --only ota_power` runs 50 (rig/benchmarks/fleet_ota.py)."""

from __future__ import annotations

import uuid

import pytest
from connectivity_kit import connected

from rig.backends.local import local_backend
from rig.cloud.runtime import CloudRuntime
from rig.pytest_plugin.boards import BoardFactory
from rig.strategies.jobs import PowerCutRun, ota_bundle

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CUTS = 4  # one of each kind of point (WHERE), about 40 s on a loaded 2-core machine


def test_power_cut_during_ota_leaves_old_or_new_firmware_and_a_true_job_state(
    boards: BoardFactory, cloud_runtime: CloudRuntime
) -> None:
    board, setup = connected(boards, cloud_runtime)
    tag = uuid.uuid4().hex[:6]
    documents = [ota_bundle(cloud_runtime.home, f"0.5.{tag}.{i}")[1] for i in range(2)]
    runs = PowerCutRun(local_backend(cloud_runtime), board, setup.serial, documents, seed=None)
    outcomes = [runs.once() for _ in range(CUTS)]
    print(runs.summary(outcomes))
    assert all(o.consistent for o in outcomes), runs.summary(outcomes)
    assert {o.status for o in outcomes} <= {"SUCCEEDED", "FAILED"}
    assert {o.where for o in outcomes} == set(PowerCutRun.WHERE)
