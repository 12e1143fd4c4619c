"""The firmware's jobs agent end to end (firmware/jobsagent.py, docs/firmware-connectivity.md "Jobs
agent and OTA"): real firmware on emulated boards, the real broker and the reference cloud's jobs
service. Each job is created through the cloud API and its execution read back from the cloud;
the first two tests do it through the backend interface (rig/backends), so they run on
`--backend aws` too (the others need the local cloud's OTA file server)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

import pytest
from connectivity_kit import WAIT_S, connected, led_patterns, set_up_through

from rig import gestures
from rig.backends.base import CloudBackend
from rig.backends.local import local_backend
from rig.cloud.runtime import CloudRuntime
from rig.drivers.emulated import EmulatedBoard
from rig.pytest_plugin.boards import BoardFactory
from rig.strategies.jobs import JobRunner, details, ota_bundle
from rig.strategies.provisioning import Provisioned

pytestmark = [pytest.mark.e2e]


def job_id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:8]}"


def run_job(
    jobs: JobRunner, thing: str, kind: str, document: Mapping[str, object], timeout: float = WAIT_S
) -> tuple[str, dict[str, Any]]:
    """A new job of `kind` for one thing, run to its end: the id the backend gave it (AWS's
    carries the run prefix) and the thing's execution in a terminal state."""
    jid = jobs.create(job_id(kind), document, things=[thing])["jobId"]
    return jid, jobs.wait(jid, [thing], timeout=timeout)[thing]


def connected_with_jobs(
    boards: BoardFactory, cloud_runtime: CloudRuntime
) -> tuple[EmulatedBoard, Provisioned, JobRunner]:
    """A board connected to the local cloud (its OTA file server), and a job runner there."""
    board, setup = connected(boards, cloud_runtime)
    return board, setup, JobRunner(local_backend(cloud_runtime))


def test_identify_job_blinks_the_led_and_succeeds(
    boards: BoardFactory, cloud_backend: CloudBackend
) -> None:
    board, setup = set_up_through(boards, cloud_backend)
    jobs = JobRunner(cloud_backend)
    jid, done = run_job(jobs, setup.serial, "identify", {"operation": "identify"})
    assert done["status"] == "SUCCEEDED", done
    assert details(done) == {"pattern": "identify"}
    assert "identify" in led_patterns(board)
    # the console line follows the accepted update: it may reach the rig after the cloud's state
    board.expect("job", WAIT_S, id=jid, status="SUCCEEDED", pattern="identify")


def test_unknown_operation_and_malformed_documents_are_rejected_with_the_reason(
    boards: BoardFactory, cloud_backend: CloudBackend
) -> None:
    board, setup = set_up_through(boards, cloud_backend)
    jobs = JobRunner(cloud_backend)
    cases = {
        job_id("dance"): ({"operation": "dance"}, "unknown operation dance"),
        job_id("noop"): ({"steps": []}, "no valid operation in the job document"),
        job_id("path"): ({"operation": "../main"}, "no valid operation in the job document"),
        job_id("ota"): (
            {"operation": "ota", "version": "9.9.9", "url": "http://x/y"},
            "job document: missing or invalid url",
        ),
    }
    for jid, (document, _) in cases.items():
        jobs.create(jid, document, things=[setup.serial])
    for jid, (_, reason) in cases.items():
        done = jobs.wait(jid, [setup.serial], timeout=WAIT_S)[setup.serial]
        assert done["status"] == "REJECTED", (jid, done)
        assert details(done)["reason"] == reason
    # the board carried on: a job after them still runs
    _, done = run_job(jobs, setup.serial, "identify", {"operation": "identify"})
    assert done["status"] == "SUCCEEDED"
    assert not board.events("error"), board.events("error")


def test_config_job_applies_valid_settings_and_refuses_all_of_an_invalid_set(
    boards: BoardFactory, cloud_runtime: CloudRuntime
) -> None:
    board, setup, jobs = connected_with_jobs(boards, cloud_runtime)
    bad = {"operation": "config", "settings": {"double_ms": 600, "long_ms": 5}}
    _, done = run_job(jobs, setup.serial, "config", bad)
    assert done["status"] == "FAILED", done
    assert details(done)["long_ms"] == "out of range 500..10000"
    stored = board.flash / "settings.json"
    assert not stored.exists() or json.loads(stored.read_text())["double_ms"] == 400
    good = {"operation": "config", "settings": {"double_ms": 600, "heap_report_s": 0}}
    _, done = run_job(jobs, setup.serial, "config", good)
    assert done["status"] == "SUCCEEDED", done
    assert details(done) == {"changed": "double_ms,heap_report_s"}
    assert json.loads(board.read_file("settings.json"))["double_ms"] == 600
    assert board.events("settings")[-1]["changed"] == {"double_ms": 600, "heap_report_s": 0}


def ota_job(cloud_runtime: CloudRuntime, version: str, **changes: object) -> dict[str, object]:
    _, document = ota_bundle(cloud_runtime.home, version)
    document.update(changes)
    return document


def reported_fw(cloud_runtime: CloudRuntime, thing: str, wanted: str) -> object:
    """The firmware version in the thing's reported shadow, once it is `wanted` (or the last one
    seen when the time runs out)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        state = json.loads(cloud_runtime.cloud.get_thing_shadow(thing))["state"]
        fw = state.get("reported", {}).get("fw")
        if fw == wanted or time.monotonic() > deadline:
            return fw
        time.sleep(0.2)


def test_ota_job_installs_the_new_version_and_the_board_runs_it(
    boards: BoardFactory, cloud_runtime: CloudRuntime
) -> None:
    board, setup, jobs = connected_with_jobs(boards, cloud_runtime)
    version = f"0.2.{uuid.uuid4().hex[:6]}"
    jid, done = run_job(jobs, setup.serial, "ota", ota_job(cloud_runtime, version))
    assert done["status"] == "SUCCEEDED", done
    assert details(done) == {"step": "done", "version": version}
    assert board.events("boot")[-1]["fw"] == version
    board.expect("job", WAIT_S, id=jid, status="SUCCEEDED", step="done")
    steps = [e.get("step") for e in board.events("job") if e["id"] == jid]
    assert steps[:1] == ["downloading"] and "installing" in steps and steps[-1] == "done"
    pointer = json.loads(board.read_file("fw.json"))
    assert pointer == {"run": "app_a", "ver": version}
    assert reported_fw(cloud_runtime, setup.serial, version) == version  # the shadow agent's
    assert not (board.flash / "ota.part").exists()


def test_ota_bundle_with_a_bad_checksum_fails_and_the_old_firmware_keeps_running(
    boards: BoardFactory, cloud_runtime: CloudRuntime
) -> None:
    board, setup, jobs = connected_with_jobs(boards, cloud_runtime)
    document = ota_job(cloud_runtime, f"0.3.{uuid.uuid4().hex[:6]}", sha256="0" * 64)
    _, done = run_job(jobs, setup.serial, "ota", document)
    assert done["status"] == "FAILED", done
    assert details(done)["reason"] == "bundle sha256 mismatch; kept 0.1.0"
    assert [e["fw"] for e in board.events("boot")][-1] == "0.1.0"
    assert len(board.events("boot")) == 2  # set-up reset only: never reset into anything new
    assert not (board.flash / "fw.json").exists() and not (board.flash / "app_a").exists()


NEVER_CONNECTS = """def register(app):
    raise RuntimeError("a broken build: no session ever")
"""


def test_a_new_firmware_that_never_reports_healthy_is_rolled_back(
    boards: BoardFactory, cloud_runtime: CloudRuntime
) -> None:
    board, setup, jobs = connected_with_jobs(boards, cloud_runtime)
    version = f"0.4.{uuid.uuid4().hex[:6]}"
    _, document = ota_bundle(cloud_runtime.home, version, replace={"services.py": NEVER_CONNECTS})
    document["trialSeconds"] = 6
    _, done = run_job(jobs, setup.serial, "ota", document, timeout=2 * WAIT_S)
    assert done["status"] == "FAILED", done
    assert details(done) == {"reason": "rolled back to 0.1.0", "version": "0.1.0"}
    versions = [e["fw"] for e in board.events("boot")]
    assert versions[-3:] == [version, version, "0.1.0"], versions  # two trial boots, then back
    assert [e["code"] for e in board.events("error")] == ["services_register"] * 2
    assert json.loads(board.read_file("fw.json"))["run"] == ""


def test_reboot_job_resets_the_board_and_succeeds_after_the_boot(
    boards: BoardFactory, cloud_runtime: CloudRuntime
) -> None:
    board, setup, jobs = connected_with_jobs(boards, cloud_runtime)
    _, done = run_job(jobs, setup.serial, "reboot", {"operation": "reboot"})
    assert done["status"] == "SUCCEEDED", done
    assert details(done) == {"step": "rebooted", "reset": "hard"}
    boots = board.events("boot")
    assert len(boots) == 3 and boots[-1]["reset"] == "hard"  # set-up reset, then the job's


OUT_OF_HEAP = "MemoryError: memory allocation failed, allocating 515 bytes"


def test_a_job_the_heap_cannot_hold_is_failed_with_the_reason_and_not_run_again(
    boards: BoardFactory, cloud_runtime: CloudRuntime
) -> None:
    """The heap runs out outside the operation (here the run's own module cannot be loaded, as
    on a heap too small for an OTA): the watch drops the agent and fails the execution with the
    reason in one message. Before, the watch was restarted, asked start-next again and ran into
    the same MemoryError at every try, the execution IN_PROGRESS for good."""
    board, setup, jobs = connected_with_jobs(boards, cloud_runtime)
    message = OUT_OF_HEAP.split(": ", 1)[1]
    board.write_file("jobrun.py", f"raise MemoryError({message!r})\n".encode())
    jid, done = run_job(jobs, setup.serial, "identify", {"operation": "identify"})
    assert done["status"] == "FAILED", done
    assert details(done) == {"reason": OUT_OF_HEAP}
    board.expect("job", WAIT_S, id=jid, status="FAILED", reason=OUT_OF_HEAP)
    board.press(gestures.single(120))
    board.expect("mqtt", WAIT_S, published=f"iotbutton/{setup.serial}")
    assert [e for e in board.events("error") if e["code"] == "service"] == []


def test_factory_reset_job_succeeds_then_the_board_forgets_its_identity(
    boards: BoardFactory, cloud_runtime: CloudRuntime
) -> None:
    board, setup, jobs = connected_with_jobs(boards, cloud_runtime)
    _, done = run_job(jobs, setup.serial, "factory-reset", {"operation": "factory-reset"})
    assert done["status"] == "SUCCEEDED", done
    assert details(done) == {"step": "wiped"}
    board.expect("led", WAIT_S, pattern="unconfigured")  # boots blank: config mode again
    for path in ("pki/cert.der", "pki/key.der", "netcfg.json"):
        assert not (board.flash / path).exists(), path
