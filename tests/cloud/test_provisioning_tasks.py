"""Thing registration tasks without a running cloud: the runner (rig/cloud/provisioning/tasks.py)
on a Cloud in a temporary home with an object store stand-in, and the object store's server
keeping its objects across restarts (rig/cloud/objects/server.py)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from rig.cloud.api import Cloud
from rig.cloud.core.endpoint import write_port
from rig.cloud.core.errors import InvalidRequestException, LimitExceededException
from rig.cloud.objects.client import s3_client
from rig.cloud.objects.server import ObjectServer, ObjectStoreError, port_file
from rig.cloud.provisioning.tasks import RegistrationRunner
from rig.pytest_plugin.cli_runner import buttonrig as run
from rig.strategies.workshop import TEMPLATE_BODY, make_bulk

TEMPLATE = json.dumps(TEMPLATE_BODY)


class Objects:
    """The object store as the runner sees it; `on_read` runs when the input is read."""

    def __init__(self, body: bytes, on_read=None) -> None:
        self.body = body
        self.on_read = on_read
        self.published: dict[str, bytes] = {}

    def read(self, bucket: str, key: str) -> bytes:
        if self.on_read is not None:
            self.on_read()
        if (bucket, key) != ("bucket", "bulk.json"):
            raise KeyError(f"NoSuchKey {bucket}/{key}")
        return self.body

    def publish(self, bucket: str, key: str, body: bytes, expires_s: int) -> str:
        del expires_s
        self.published[f"{bucket}/{key}"] = body
        return f"http://objects/{bucket}/{key}"


@pytest.fixture
def api(tmp_path: Path):
    cloud = Cloud(tmp_path / "home")
    cloud.create_thing_group("bulk-group")
    cloud.create_thing_type("bulk-type")
    yield cloud
    cloud.close()


def runner_for(api: Cloud, objects: Objects) -> RegistrationRunner:
    return RegistrationRunner(api.registration_tasks, api.provisioner, objects)


def test_a_stop_while_the_task_runs_cancels_the_rest(api: Cloud, tmp_path: Path) -> None:
    body = make_bulk(tmp_path, "stopped", 60).read_bytes()
    task_id = api.registration_tasks.create(TEMPLATE, "bucket", "bulk.json", "role")
    # stop-thing-registration-task arrives once the task has started reading its input
    objects = Objects(body, on_read=lambda: api.stop_thing_registration_task(task_id))
    runner_for(api, objects).run(task_id)
    task = api.describe_thing_registration_task(task_id)
    assert task["status"] == "Cancelled"
    assert 0 < task["successCount"] < 60  # the lines before the stop stay provisioned
    names = [t["thingName"] for t in api.list_things()["things"]]
    assert len(names) == task["successCount"]
    with pytest.raises(InvalidRequestException, match="only a task InProgress can be stopped"):
        api.stop_thing_registration_task(task_id)


def test_one_task_at_a_time_and_a_missing_input_fails_the_task(api: Cloud) -> None:
    first = api.registration_tasks.create(TEMPLATE, "bucket", "missing.json", "role")
    with pytest.raises(LimitExceededException, match="only one bulk provisioning task"):
        api.registration_tasks.create(TEMPLATE, "bucket", "bulk.json", "role")
    runner_for(api, Objects(b"")).run(first)
    task = api.describe_thing_registration_task(first)
    assert task["status"] == "Failed"
    assert "s3://bucket/missing.json" in task["message"]
    assert api.list_thing_registration_tasks(status="Failed") == {"taskIds": [first]}
    assert api.list_thing_registration_task_reports(first, "ERRORS")["resourceLinks"] == []


def test_a_task_a_killed_cloud_left_is_failed_not_run_twice(api: Cloud) -> None:
    task_id = api.registration_tasks.create(TEMPLATE, "bucket", "bulk.json", "role")
    assert api.registration_tasks.claim(task_id)  # a cloud took it, then died
    runner = runner_for(api, Objects(b""))
    runner.start()
    runner.stop()
    task = api.describe_thing_registration_task(task_id)
    assert (task["status"], task["message"]) == ("Failed", "the cloud stopped while the task ran")


def test_the_object_store_keeps_its_objects_across_restarts(tmp_path: Path) -> None:
    home = tmp_path / "home"
    server = ObjectServer(home, home / "logs")
    url = server.start()
    try:
        client = s3_client(url)
        client.create_bucket(Bucket="kept-bucket")
        client.create_bucket(Bucket="empty-bucket")
        client.put_object(Bucket="kept-bucket", Key="dir/bulk.json", Body=b'{"a": "1"}\n')
    finally:
        server.stop()
    again = ObjectServer(home, home / "logs")
    assert again.start() == url  # the home's port, as the broker's
    try:
        client = s3_client(url)
        names = sorted(b["Name"] for b in client.list_buckets()["Buckets"])
        assert names == ["empty-bucket", "kept-bucket"]
        body = client.get_object(Bucket="kept-bucket", Key="dir/bulk.json")["Body"].read()
        assert body == b'{"a": "1"}\n'
    finally:
        again.stop()


def test_without_a_running_cloud_there_is_no_s3(tmp_path: Path) -> None:
    listed = run(tmp_path, "s3", "ls", ok=False)
    assert listed.returncode == 255
    assert listed.stderr.startswith("buttonrig: no object store (S3) runs for ")
    template = tmp_path / "template.json"
    template.write_text(TEMPLATE)
    started = run(
        tmp_path, "iot", "start-thing-registration-task", "--template-body", f"file://{template}",
        "--input-file-bucket", "bucket", "--input-file-key", "bulk.json", "--role-arn", "r",
        ok=False,
    )  # fmt: skip
    assert "(ServiceUnavailableException) when calling the StartThingRegistrationTask" in (
        started.stderr
    )
    assert Cloud(tmp_path).list_thing_registration_tasks() == {"taskIds": []}


def test_the_object_store_names_its_port_when_another_program_holds_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        write_port(port_file(home), port)
        server = ObjectServer(home, home / "logs")
        with pytest.raises(ObjectStoreError, match=f"port {port} on 127.0.0.1"):
            server.start()
    assert server.process is None
