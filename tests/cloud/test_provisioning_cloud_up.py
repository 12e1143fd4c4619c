"""`buttonrig cloud up` in its own process runs the object store and the bulk tasks; the CLI in
other processes uses them; the buckets are still there after the cloud stops and starts."""

from __future__ import annotations

import json
import time
from pathlib import Path

from rig.benchmarks.shadow import CloudProcess
from rig.pytest_plugin.cli_runner import buttonrig_subprocess as run
from rig.strategies.workshop import make_bulk, write_template


def test_a_bulk_task_runs_inside_cloud_up_and_s3_outlives_a_restart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    template, bulk = write_template(tmp_path), make_bulk(tmp_path, "upthing", 5)
    cloud = CloudProcess(home)
    try:
        assert cloud.data["objects_url"].startswith("http://127.0.0.1:")
        run(home, "iot", "create-thing-group", "--thing-group-name", "bulk-group")
        run(home, "iot", "create-thing-type", "--thing-type-name", "bulk-type")
        run(home, "s3", "mb", "s3://kept-bucket")
        run(home, "s3", "cp", str(bulk), "s3://kept-bucket/")
        started = json.loads(
            run(
                home,
                "iot",
                "start-thing-registration-task",
                "--template-body",
                f"file://{template}",
                "--input-file-bucket",
                "kept-bucket",
                "--input-file-key",
                "bulk.json",
                "--role-arn",
                "arn:aws:iam::123456789012:role/r",
            ).stdout
        )
        deadline = time.monotonic() + 60
        while True:
            task = json.loads(
                run(
                    home,
                    "iot",
                    "describe-thing-registration-task",
                    "--task-id",
                    started["taskId"],
                ).stdout
            )
            if task["status"] != "InProgress" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert (task["status"], task["successCount"]) == ("Completed", 5)
    finally:
        cloud.stop()
    assert run(home, "s3", "ls", ok=False).returncode == 255  # no cloud, no S3
    again = CloudProcess(home)
    try:
        assert again.data["objects_url"] == cloud.data["objects_url"]  # the home's port
        listed = run(home, "s3", "ls", "s3://kept-bucket/").stdout.split()
        assert listed[-1] == "bulk.json"
        things = json.loads(run(home, "iot", "list-things").stdout)["things"]
        assert {f"upthing{i}" for i in range(1, 6)} <= {t["thingName"] for t in things}
    finally:
        again.stop()
