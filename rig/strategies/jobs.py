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
import random
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from host.paths import FIRMWARE_DIR
from rig.cloud.api import Cloud
from rig.cloud.core import arn
from rig.cloud.files.bundle import Bundle, write_bundle
from rig.cloud.files.server import home_port
from rig.drivers.emulated import EmulatedBoard

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


@dataclass(frozen=True)
class CutOutcome:
    """One OTA job whose board lost power at `delay` s after the job reported `where`."""

    job_id: str
    where: str
    delay: float
    before: str  # the version running when the job was created
    target: str
    running: str  # the version the board runs once the job ended
    status: str  # the job's final state
    phase: str  # what the console had shown when the power went: the last step, or "new boot"

    @property
    def consistent(self) -> bool:
        """Old or new firmware, never neither, and SUCCEEDED exactly when the new one runs."""
        return self.running in (self.before, self.target) and (
            (self.status == "SUCCEEDED") == (self.running == self.target)
        )


class PowerCutRun:
    """OTA jobs to one emulated board, each interrupted by a power cut at a random instant of the
    download or of the unpack and A/B switch (after its `downloading` or `installing` report)."""

    WHERE: ClassVar[dict[str, float]] = {
        "downloading": 1.5,
        "installing": 0.3,
    }  # step -> max delay, s

    def __init__(
        self,
        cloud: Cloud,
        board: EmulatedBoard,
        thing: str,
        documents: Sequence[Mapping[str, Any]],
        seed: int | None = None,
        timeout: float = 90.0,
    ) -> None:
        self.jobs = JobRunner(cloud)
        self.board = board
        self.thing = thing
        self.documents = documents
        self.seed = random.randrange(1 << 30) if seed is None else seed
        self.rng = random.Random(self.seed)
        self.timeout = timeout

    def running(self) -> str:
        return str(self.board.events("boot")[-1]["fw"])

    def once(self) -> CutOutcome:
        before = self.running()
        document = next(d for d in self.documents if d["version"] != before)
        job_id = f"ota-cut-{uuid.uuid4().hex[:10]}"
        where = self.rng.choice(sorted(self.WHERE))
        delay = self.rng.uniform(0, self.WHERE[where])
        self.jobs.create(job_id, document, things=[self.thing])
        self.board.expect("job", self.timeout, id=job_id, step=where)
        time.sleep(delay)
        self.board.power_cut()
        phase = self._phase(job_id, str(document["version"]))
        self.board.start()
        done = self.jobs.wait(job_id, [self.thing], timeout=self.timeout)[self.thing]
        return CutOutcome(
            job_id,
            where,
            delay,
            before,
            str(document["version"]),
            self.running(),
            done["status"],
            phase,
        )

    def _phase(self, job_id: str, target: str) -> str:
        if any(e["fw"] == target for e in self.board.events("boot")):
            return "new boot"
        steps = [e.get("step") for e in self.board.events("job") if e.get("id") == job_id]
        return str([s for s in steps if s][-1])

    def summary(self, outcomes: Sequence[CutOutcome]) -> str:
        lines = [f"seed {self.seed}: {len(outcomes)} power cuts"]
        lines += [
            f"  {o.job_id} cut {o.delay:.2f}s after {o.where} (in {o.phase}):"
            f" {o.before} -> {o.target}:"
            f" runs {o.running}, job {o.status}{'' if o.consistent else '  <-- WRONG'}"
            for o in outcomes
        ]
        return "\n".join(lines)
