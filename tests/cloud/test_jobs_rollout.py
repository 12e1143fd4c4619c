"""`jobExecutionsRolloutConfig.maximumPerMinute` (API reference JobExecutionsRolloutConfig: "The
maximum number of things that will be notified of a pending job, per minute"): at most that many
executions of a job appear (QUEUED, visible to devices, announced) in any minute; the other
things wait with the job (J-21). The clock is passed in, so nothing here waits a minute."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from cloud_home import cloud_with_things, drain_topics

from rig.cloud.api import Cloud
from rig.cloud.core import arn
from rig.cloud.jobs.timers import StepTimers

THINGS = [f"t{n}" for n in range(5)]
MINUTE_MS = 60_000


@pytest.fixture
def cloud(tmp_path: Path):
    with cloud_with_things(tmp_path, THINGS) as cloud:
        yield cloud


def _create(cloud: Cloud, rate: int) -> int:
    created = int(time.time() * 1000)
    cloud.create_job(
        "j1",
        [arn.thing_arn(thing) for thing in THINGS],
        document=json.dumps({"op": "x"}),
        job_executions_rollout_config={"maximumPerMinute": rate},
    )
    return created


def _reached(cloud: Cloud) -> list[str]:
    summaries = cloud.list_job_executions_for_job("j1")["executionSummaries"]
    return [s["thingArn"].rsplit("/", 1)[1] for s in summaries]


def _notified(cloud: Cloud) -> set[str]:
    return {topic.split("/")[2] for topic in drain_topics(cloud) if topic.endswith("/notify-next")}


def test_at_most_n_executions_a_minute(cloud: Cloud) -> None:
    created = _create(cloud, 2)
    assert _reached(cloud) == ["t0", "t1"]
    assert _notified(cloud) == {"t0", "t1"}
    assert (
        cloud.jobs_data.get_pending_job_executions("t2")["queuedJobs"] == []
    )  # waits: not visible
    assert cloud.job_store.release_rollouts(created + MINUTE_MS - 1000) == 0  # same minute
    assert cloud.job_store.release_rollouts(created + MINUTE_MS + 1000) == 2
    assert _reached(cloud) == ["t0", "t1", "t2", "t3"]
    assert _notified(cloud) == {"t2", "t3"}
    assert cloud.job_store.release_rollouts(created + MINUTE_MS + 2000) == 0
    assert cloud.job_store.release_rollouts(created + 2 * MINUTE_MS + 2000) == 1
    assert _reached(cloud) == THINGS
    assert cloud.job_store.release_rollouts(created + 10 * MINUTE_MS) == 0


def test_a_snapshot_job_is_not_complete_while_things_wait(cloud: Cloud) -> None:
    created = _create(cloud, 2)
    for thing in ("t0", "t1"):
        cloud.update_job_execution("j1", thing, {"status": "SUCCEEDED"})
    assert cloud.describe_job("j1")["job"]["status"] == "IN_PROGRESS"
    cloud.job_store.release_rollouts(created + MINUTE_MS + 1000)
    cloud.job_store.release_rollouts(created + 2 * MINUTE_MS + 2000)
    for thing in ("t2", "t3", "t4"):
        cloud.update_job_execution("j1", thing, {"status": "SUCCEEDED"})
    assert cloud.describe_job("j1")["job"]["status"] == "COMPLETED"


def test_cancel_job_drops_the_waiting_things(cloud: Cloud) -> None:
    created = _create(cloud, 2)
    cloud.cancel_job("j1")
    assert cloud.job_store.release_rollouts(created + 5 * MINUTE_MS) == 0
    assert _reached(cloud) == ["t0", "t1"]


def test_a_job_without_rollout_reaches_every_thing_at_once(cloud: Cloud) -> None:
    cloud.create_job("j1", [arn.thing_arn(thing) for thing in THINGS], document="{}")
    assert _reached(cloud) == THINGS


def test_the_timer_thread_releases_with_its_clock(cloud: Cloud) -> None:
    later = _create(cloud, 2) + 5 * MINUTE_MS
    timers = StepTimers(cloud.job_store, period_s=0.01, clock=lambda: later)
    timers.start()
    try:
        deadline = time.monotonic() + 5
        while len(_reached(cloud)) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        timers.stop()
    assert _reached(cloud) == ["t0", "t1", "t2", "t3"]  # one period at that clock: one batch
