"""Bulk provisioning benchmark (metric names: README "Benchmarks").

* `bulk_register_things_per_s`: lines per second of one 500-line thing registration task (the
  AWS IoT Device Management workshop's template and bulk.json, `rig.strategies.workshop`: thing
  with type, group and attributes, a certificate from the line's CSR, the shared iot:* policy),
  from `StartThingRegistrationTask` to the task's `Completed`, run by `buttonrig cloud up` in its own process with its input in
  the cloud's object store. Making the keys and CSRs is not timed. A task that does not
  complete, or reports any failed line, gives no figure.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rig.benchmarks.shadow import CloudProcess, Context
from rig.cloud.api import Cloud
from rig.cloud.objects.client import s3_client
from rig.strategies.workshop import TEMPLATE_BODY, bulk_json

METRICS = ("bulk_register_things_per_s",)
LINES = 500
TIMEOUT_S = 300.0
BUCKET = "bench-bulk-bucket"


def bulk_rate(workdir: Path, lines: int) -> float:
    home = workdir / "provisioning-home"
    home.mkdir(mode=0o700)
    body = bulk_json("bulky", lines).encode()
    cloud_process = CloudProcess(home)
    try:
        cloud = Cloud(home)
        try:
            cloud.create_thing_group("bulk-group")
            cloud.create_thing_type("bulk-type")
            objects = s3_client(cloud_process.data["objects_url"])
            objects.create_bucket(Bucket=BUCKET)
            objects.put_object(Bucket=BUCKET, Key="bulk.json", Body=body)
            started = time.perf_counter()
            task_id = cloud.start_thing_registration_task(
                json.dumps(TEMPLATE_BODY),
                BUCKET,
                "bulk.json",
                "arn:aws:iam::123456789012:role/bench",
            )["taskId"]
            while True:
                task = cloud.describe_thing_registration_task(task_id)
                if task["status"] not in ("InProgress", "Cancelling"):
                    break
                if time.perf_counter() - started > TIMEOUT_S:
                    raise RuntimeError(f"the task did not finish within {TIMEOUT_S:.0f} s")
                time.sleep(0.02)
            elapsed = time.perf_counter() - started
        finally:
            cloud.close()
    finally:
        cloud_process.stop()
    if task["status"] != "Completed" or task["successCount"] != lines:
        raise RuntimeError(f"the task ended {task['status']}: {task['message']} ({task})")
    return lines / elapsed


def run(ctx: Context) -> dict[str, float]:
    return {"bulk_register_things_per_s": round(bulk_rate(ctx.workdir, LINES), 1)}
