"""A job to a thing group of emulated boards, end to end: every member's execution SUCCEEDS and
each board runs the new firmware; a job execution cancelled while it waits in a board's queue
never runs there. FLEET boards here; the fleet_ota benchmark
(rig/benchmarks/fleet_ota.py) sends one to 50."""

from __future__ import annotations

import uuid

import pytest
from connectivity_kit import WAIT_S

from rig.backends.local import local_backend
from rig.cloud.runtime import CloudRuntime
from rig.drivers.emulated import EmulatedBoard
from rig.pytest_plugin.boards import BoardFactory
from rig.strategies.fleet import set_up_fleet
from rig.strategies.jobs import JobRunner, details, ota_bundle

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FLEET = 20  # the group size


def test_ota_job_to_a_thing_group_succeeds_on_every_member_and_a_cancelled_one_never_runs(
    boards: BoardFactory, cloud_runtime: CloudRuntime
) -> None:
    tag = uuid.uuid4().hex[:6]
    fleet = [
        b
        for _ in range(FLEET)
        for b in boards(1, unique_id=uuid.uuid4().hex[:12])
        if isinstance(b, EmulatedBoard)
    ]
    assert len(fleet) == FLEET and cloud_runtime.endpoint is not None
    group = f"fleet-{tag}"
    things = set_up_fleet(cloud_runtime.cloud, cloud_runtime.endpoint, fleet, group)
    for board in fleet:
        board.expect("mqtt", WAIT_S, state="up")
    version = f"0.6.{tag}"
    _, document = ota_bundle(cloud_runtime.home, version)
    jobs = JobRunner(local_backend(cloud_runtime))
    ota, skipped = f"ota-{tag}", f"identify-{tag}"
    jobs.create(ota, document, groups=[group])
    jobs.create(skipped, {"operation": "identify"}, things=[things[0]])
    # queued behind the OTA on that board (start-next takes the oldest first): cancelled there
    assert jobs.execution(skipped, things[0])["status"] == "QUEUED"
    cloud_runtime.cloud.cancel_job_execution(skipped, things[0])
    done = jobs.wait(ota, things, timeout=3 * WAIT_S)
    assert {t: e["status"] for t, e in done.items()} == dict.fromkeys(things, "SUCCEEDED")
    assert all(details(e)["version"] == version for e in done.values())
    assert [b.events("boot")[-1]["fw"] for b in fleet] == [version] * FLEET
    assert jobs.execution(skipped, things[0])["status"] == "CANCELED"
    assert not [e for e in fleet[0].events("job") if e["id"] == skipped]
    assert "identify" not in [e["pattern"] for e in fleet[0].events("led")]
