"""Power cuts (the board process SIGKILLed) at random points of an OTA job, watched on the flash:
during the download, the unpack, the A/B switch and the new firmware's trial boot. The board always
comes up on the old or the new firmware, never neither, and the job's final state says which
(SUCCEEDED only when the new one runs). CUTS cuts in all, the issue's 50: BOARDS boards at once,
CUTS // BOARDS cuts each, one after the other (each board's cut points: one of each kind in every
four runs, in random order; the seed of each is printed)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from connectivity_kit import WAIT_S

from rig.backends.local import local_backend
from rig.cloud.runtime import CloudRuntime
from rig.drivers.emulated import EmulatedBoard
from rig.pytest_plugin.boards import BoardFactory
from rig.strategies.fleet import set_up_fleet
from rig.strategies.jobs import CutOutcome, PowerCutRun, ota_bundle

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CUTS = 50
BOARDS = 10


def test_power_cuts_during_ota_leave_old_or_new_firmware_and_a_true_job_state(
    boards: BoardFactory, cloud_runtime: CloudRuntime
) -> None:
    tag = uuid.uuid4().hex[:6]
    fleet = [
        b
        for _ in range(BOARDS)
        for b in boards(1, unique_id=uuid.uuid4().hex[:12])
        if isinstance(b, EmulatedBoard)
    ]
    assert len(fleet) == BOARDS and cloud_runtime.endpoint is not None
    things = set_up_fleet(cloud_runtime.cloud, cloud_runtime.endpoint, fleet, f"cuts-{tag}")
    for board in fleet:
        board.expect("mqtt", WAIT_S, state="up")
    documents = [ota_bundle(cloud_runtime.home, f"0.5.{tag}.{i}")[1] for i in range(2)]
    runs = [
        PowerCutRun(local_backend(cloud_runtime), board, thing, documents)
        for board, thing in zip(fleet, things, strict=True)
    ]

    def cut(run: PowerCutRun) -> list[CutOutcome]:
        return [run.once() for _ in range(CUTS // BOARDS)]

    with ThreadPoolExecutor(BOARDS) as pool:
        per_board = list(pool.map(cut, runs))
    report = "\n".join(run.summary(got) for run, got in zip(runs, per_board, strict=True))
    print(report)
    outcomes = [o for got in per_board for o in got]
    assert len(outcomes) == CUTS
    assert all(o.consistent for o in outcomes), report
    assert {o.status for o in outcomes} <= {"SUCCEEDED", "FAILED"}, report
    assert {o.where for o in outcomes} == set(PowerCutRun.WHERE), report
