"""One thing `t1` with one job `j1`, driven as the device does over the jobs MQTT API: the set-up
the job timer tests share (step timers, the job's in-progress timeout). The clock is passed to
`time_out_expired`, so nothing waits a minute."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cloud_home import cloud_with_things

from rig.cloud.api import Cloud
from rig.cloud.core import arn
from rig.cloud.jobs.device import DeviceJobs

BASE = "$aws/things/t1/jobs"
MINUTE_MS = 60_000


@contextmanager
def one_job_cloud(tmp_path: Path, **job_options: Any) -> Iterator[Cloud]:
    """A cloud in a new home with thing t1 and job j1 for it (`job_options`: create_job's)."""
    with cloud_with_things(tmp_path, ["t1"]) as cloud:
        cloud.create_job(
            "j1", [arn.thing_arn("t1")], document=json.dumps({"op": "x"}), **job_options
        )
        yield cloud


def ask(cloud: Cloud, suffix: str, body: dict[str, Any]) -> dict[str, Any]:
    """t1's request on `$aws/things/t1/jobs/<suffix>`; its one reply, which must be accepted."""
    ((topic, reply),) = DeviceJobs(cloud.job_store).handle(
        f"{BASE}/{suffix}", json.dumps(body).encode()
    )
    assert topic.endswith("/accepted"), reply
    return reply


def status(cloud: Cloud) -> str:
    return cloud.describe_job_execution("j1", "t1")["execution"]["status"]
