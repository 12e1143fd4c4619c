"""`stepTimeoutInMinutes` on start-next and update (API reference StartNextPendingJobExecution,
UpdateJobExecution): an IN_PROGRESS execution not ended or reset before its step timer runs out
becomes TIMED_OUT, announced like any other change; -1 cancels the timer. The clock is passed in,
so nothing here waits a minute."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from cloud_home import drain_topics
from job_timer_kit import BASE, MINUTE_MS, ask, one_job_cloud, status

from rig.cloud.api import Cloud
from rig.cloud.jobs.device import DeviceJobs
from rig.cloud.jobs.timers import StepTimers


@pytest.fixture
def cloud(tmp_path: Path):
    with one_job_cloud(tmp_path) as cloud:
        yield cloud


def _jobs_outbox(cloud: Cloud) -> list[str]:
    return [topic for topic in drain_topics(cloud) if topic.startswith("$aws/things/")]


def test_a_step_timer_from_start_next_times_the_execution_out(cloud: Cloud) -> None:
    started_ms = int(time.time() * 1000)
    ask(cloud, "start-next", {"stepTimeoutInMinutes": 1})
    _jobs_outbox(cloud)
    described = cloud.describe_job_execution("j1", "t1")["execution"]
    assert 50 <= described["approximateSecondsBeforeTimedOut"] <= 60
    assert cloud.job_store.time_out_expired(started_ms + MINUTE_MS - 1000) == 0
    assert status(cloud) == "IN_PROGRESS"
    assert cloud.job_store.time_out_expired(started_ms + MINUTE_MS + 1000) == 1
    assert status(cloud) == "TIMED_OUT"
    assert _jobs_outbox(cloud) == [f"{BASE}/notify", f"{BASE}/notify-next"]
    assert cloud.describe_job("j1")["job"]["status"] == "COMPLETED"
    ((_, refused),) = DeviceJobs(cloud.job_store).handle(
        f"{BASE}/j1/update", json.dumps({"status": "SUCCEEDED"}).encode()
    )
    assert refused["code"] == "TerminalStateReached"


def test_an_update_resets_or_cancels_the_timer(cloud: Cloud) -> None:
    now = int(time.time() * 1000)
    ask(cloud, "j1/update", {"status": "IN_PROGRESS", "stepTimeoutInMinutes": 1})
    ask(cloud, "j1/update", {"status": "IN_PROGRESS", "stepTimeoutInMinutes": 10})
    assert cloud.job_store.time_out_expired(now + 5 * MINUTE_MS) == 0  # reset to 10 minutes
    ask(cloud, "j1/update", {"status": "IN_PROGRESS", "statusDetails": {"p": "50"}})
    assert cloud.job_store.time_out_expired(now + 9 * MINUTE_MS) == 0  # kept when not given
    ask(cloud, "j1/update", {"status": "IN_PROGRESS", "stepTimeoutInMinutes": -1})
    assert cloud.job_store.time_out_expired(now + 30 * MINUTE_MS) == 0  # canceled
    assert (
        "approximateSecondsBeforeTimedOut"
        not in cloud.describe_job_execution("j1", "t1")["execution"]
    )
    ask(cloud, "j1/update", {"status": "IN_PROGRESS", "stepTimeoutInMinutes": 1})
    ask(cloud, "j1/update", {"status": "SUCCEEDED"})
    assert cloud.job_store.time_out_expired(now + 30 * MINUTE_MS) == 0  # ended in time
    assert status(cloud) == "SUCCEEDED"


def test_a_queued_execution_has_no_step_timer(cloud: Cloud) -> None:
    # an update that leaves it... there is none: QUEUED only changes by start or a device status
    assert cloud.job_store.time_out_expired(int(time.time() * 1000) + 10_000 * MINUTE_MS) == 0
    assert status(cloud) == "QUEUED"


def test_the_timer_thread_times_out_with_its_clock(cloud: Cloud) -> None:
    ask(cloud, "start-next", {"stepTimeoutInMinutes": 1})
    later = int(time.time() * 1000) + 2 * MINUTE_MS
    timers = StepTimers(cloud.job_store, period_s=0.01, clock=lambda: later)
    timers.start()
    assert timers.running
    try:
        deadline = time.monotonic() + 5
        while status(cloud) != "TIMED_OUT" and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        timers.stop()
    assert status(cloud) == "TIMED_OUT"
    assert not timers.running
