"""Jobs for tests and users: send a job to boards and wait for their executions' states; make an
OTA bundle of the working tree's firmware under a new version (firmware/jobsagent.py runs both
on the board; docs/firmware-connectivity.md "Jobs agent and OTA").

`JobRunner(cloud).create(job_id, document, things=[...], groups=[...])` creates the job (targets
as ARNs, as `iot create-job --targets`), `.wait(job_id, things, states)` polls the cloud's
executions until each thing's is in one of `states` (by default any terminal one) and returns
them. `ota_bundle(home, version)` copies `firmware/`, sets `FW_VERSION` to `version`, compiles it
for the board profile as `board deploy` does and writes the bundle and its job document
(rig/cloud/files/bundle.py); `replace` swaps module sources first (e.g. a firmware that never
reports healthy, for a rollback test).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from host.paths import FIRMWARE_DIR
from rig.cloud.api import Cloud
from rig.cloud.core import arn
from rig.cloud.files.bundle import Bundle, write_bundle
from rig.cloud.files.server import home_port

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "REJECTED", "TIMED_OUT", "REMOVED", "CANCELED"})
POLL_S = 0.1
_FW_VERSION = re.compile(r'^FW_VERSION = "[^"]*"$', re.MULTILINE)


def details(execution: Mapping[str, Any]) -> dict[str, str]:
    """The statusDetails a device reported, from a control-plane execution (its `detailsMap`)."""
    return dict((execution.get("statusDetails") or {}).get("detailsMap") or {})


class JobWaitTimeout(AssertionError):
    """Executions still not in the awaited states when the time ran out."""


class JobRunner:
    """Creates jobs for things or thing groups and waits for their executions."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud

    def create(
        self,
        job_id: str,
        document: Mapping[str, Any],
        things: Iterable[str] = (),
        groups: Iterable[str] = (),
        **options: Any,
    ) -> dict[str, Any]:
        targets = [arn.thing_arn(t) for t in things] + [arn.thing_group_arn(g) for g in groups]
        return self.cloud.create_job(job_id, targets, document=json.dumps(document), **options)

    def execution(self, job_id: str, thing: str) -> dict[str, Any]:
        return self.cloud.describe_job_execution(job_id, thing)["execution"]

    def wait(
        self,
        job_id: str,
        things: Iterable[str],
        states: Iterable[str] = TERMINAL,
        timeout: float = 60.0,
    ) -> dict[str, dict[str, Any]]:
        """Each thing's execution once all are in `states`; JobWaitTimeout naming the others."""
        wanted = frozenset(states)
        waiting = list(things)
        done: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        while True:
            for thing in list(waiting):
                execution = self.execution(job_id, thing)
                if execution["status"] in wanted:
                    done[thing] = execution
                    waiting.remove(thing)
            if not waiting:
                return done
            if time.monotonic() > deadline:
                late = {t: self.execution(job_id, t)["status"] for t in waiting}
                raise JobWaitTimeout(
                    f"job {job_id}: not {sorted(wanted)} after {timeout}s: {late}"
                )
            time.sleep(POLL_S)


def ota_bundle(
    home: Path,
    version: str,
    board: str = "emulated",
    replace: Mapping[str, str] | None = None,
    firmware_dir: Path = FIRMWARE_DIR,
) -> tuple[Bundle, dict[str, Any]]:
    """The bundle of `firmware_dir` as version `version` (its identity.py says so) and its job
    document, served by the home's file server."""
    from host.deploy import build_firmware

    with tempfile.TemporaryDirectory(prefix="ota-bundle-") as tmp:
        source = Path(tmp) / "firmware"
        shutil.copytree(firmware_dir, source)
        identity = source / "identity.py"
        text, found = _FW_VERSION.subn(f'FW_VERSION = "{version}"', identity.read_text())
        if found != 1:
            raise ValueError(f"{identity}: no single FW_VERSION line to set")
        identity.write_text(text)
        for name, code in (replace or {}).items():
            (source / name).write_text(code)
        built = build_firmware(board, firmware_dir=source, out_dir=Path(tmp) / "build")
        bundle = write_bundle(home, [(f.name, f.data) for f in built], version)
    return bundle, bundle.document(home_port(home))
