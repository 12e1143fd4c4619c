"""Jobs for tests and users: send a job to boards and wait for their executions' states; make an
OTA bundle of the working tree's firmware under a new version (firmware/jobsagent.py runs both
on the board; docs/firmware-connectivity.md "Jobs agent and OTA").

`JobRunner(backend).create(job_id, document, things=[...], groups=[...])` creates the job (targets
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
from typing import Any

from host.paths import FIRMWARE_DIR
from rig.backends.base import CloudBackend
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
    """Creates jobs for things or thing groups and waits for their executions, in the backend's
    cloud (rig/backends: the local cloud, or AWS IoT Core)."""

    def __init__(self, backend: CloudBackend) -> None:
        self.backend = backend

    def create(
        self,
        job_id: str,
        document: Mapping[str, Any],
        things: Iterable[str] = (),
        groups: Iterable[str] = (),
        target_selection: str = "SNAPSHOT",
    ) -> dict[str, Any]:
        backend = self.backend
        targets = [backend.thing_arn(t) for t in things] + [
            backend.thing_group_arn(g) for g in groups
        ]
        return backend.create_job(job_id, targets, dict(document), target_selection)

    def execution(self, job_id: str, thing: str) -> dict[str, Any]:
        """The execution as iot DescribeJobExecution gives it; status NONE while there is none
        (a continuous job's new member, or a job the backend has not made visible yet)."""
        return self.backend.job_execution(job_id, thing) or {"status": "NONE"}

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
    """One OTA job whose board lost power at a random point `where` (`point` says which)."""

    job_id: str
    where: str  # download | unpack | switch | trial
    point: str  # e.g. "41472 of 98816 bytes", "7 of 31 files"; what the flash showed at the cut
    before: str  # the version running when the job was created
    target: str
    running: str  # the version the board runs once the job ended
    status: str  # the job's final state

    @property
    def consistent(self) -> bool:
        """Old or new firmware, never neither, and SUCCEEDED exactly when the new one runs."""
        return self.running in (self.before, self.target) and (
            (self.status == "SUCCEEDED") == (self.running == self.target)
        )


class PowerCutRun:
    """OTA jobs to one emulated board, each interrupted by a power cut at a random point, watched
    on the board's flash (a directory) so the point is exact whatever the machine's load:
    `download` (once `ota.part` holds a random number of the bundle's bytes), `unpack` (once the
    folder being installed holds a random number of the bundle's files), `switch` (as `fw.json`
    is rewritten, and up to 20 ms after) or `trial` (a random 0-3 s into the new firmware's first
    boot, before or after it confirmed itself); each kind once in every four runs."""

    WHERE = ("download", "unpack", "switch", "trial")
    POLL_S = 0.0005

    def __init__(
        self,
        backend: CloudBackend,
        board: EmulatedBoard,
        thing: str,
        documents: Sequence[Mapping[str, Any]],
        seed: int | None = None,
        timeout: float = 90.0,
    ) -> None:
        self.jobs = JobRunner(backend)
        self.board = board
        self.thing = thing
        self.documents = documents
        self.seed = random.randrange(1 << 30) if seed is None else seed
        self.rng = random.Random(self.seed)
        self.timeout = timeout
        self._order: list[str] = []

    def running(self) -> str:
        return str(self.board.events("boot")[-1]["fw"])

    def once(self) -> CutOutcome:
        before = self.running()
        document = next(d for d in self.documents if d["version"] != before)
        job_id = f"ota-cut-{uuid.uuid4().hex[:10]}"
        if not self._order:  # each kind of point once in every len(WHERE) runs, in random order
            self._order = self.rng.sample(self.WHERE, len(self.WHERE))
        where = self._order.pop()
        folder = "app_b" if self._pointer().get("run") == "app_a" else "app_a"
        since = time.time() - 1.0  # a margin for coarse file times; older installs are older still
        self.jobs.create(job_id, document, things=[self.thing])
        point = self._wait_for(
            where, int(document["size"]), folder, str(document["version"]), since
        )
        self.board.power_cut()
        self.board.start()
        self.board.expect("mqtt", self.timeout, state="up")  # up again, on some firmware
        done = self.jobs.wait(job_id, [self.thing], timeout=self.timeout)[self.thing]
        return CutOutcome(
            job_id,
            where,
            point,
            before,
            str(document["version"]),
            self.running(),
            done["status"],
        )

    def _pointer(self) -> dict[str, Any]:
        for name in ("fw.json", "fw.json.tmp"):
            try:
                return dict(json.loads((self.board.flash / name).read_text()))
            except (OSError, ValueError):
                continue
        return {}

    def _wait_for(self, where: str, size: int, folder: str, target: str, since: float) -> str:
        """Return at the random point of `where`, saying what the flash showed."""
        flash = self.board.flash
        deadline = time.monotonic() + self.timeout
        if where == "download":
            at = self.rng.randrange(1, size)
            while self._size(flash / "ota.part") < at and time.monotonic() < deadline:
                time.sleep(self.POLL_S)
            return f"{self._size(flash / 'ota.part')} of {size} bytes (cut at >= {at})"
        if where == "unpack":
            at = self.rng.randrange(1, 30)
            while self._count(flash / folder, since) < at and time.monotonic() < deadline:
                time.sleep(self.POLL_S)
            return f"{self._count(flash / folder, since)} new files in {folder} (cut at >= {at})"
        if where == "switch":
            while self._pointer().get("run") != folder and time.monotonic() < deadline:
                if (flash / "fw.json.tmp").exists():
                    break
                time.sleep(self.POLL_S)
            time.sleep(self.rng.uniform(0, 0.02))
            return f"fw.json switching to {folder}"
        while not any(e["fw"] == target for e in self.board.events("boot")):
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        delay = self.rng.uniform(0, 3)
        time.sleep(delay)
        return f"{delay:.2f} s into the new firmware's boot"

    @staticmethod
    def _size(path: Path) -> int:
        try:
            return path.stat().st_size
        except OSError:
            return 0

    @staticmethod
    def _count(path: Path, since: float) -> int:
        """Files in `path` written since `since` (wall clock): the folder may hold an older
        install until the unpack clears it."""
        count = 0
        try:
            for entry in path.iterdir():
                try:
                    count += entry.stat().st_mtime >= since
                except OSError:
                    continue  # removed as the folder is cleared
        except OSError:
            pass
        return count

    def summary(self, outcomes: Sequence[CutOutcome]) -> str:
        lines = [f"seed {self.seed}: {len(outcomes)} power cuts"]
        lines += [
            f"  {o.job_id} cut in {o.where} ({o.point}): {o.before} -> {o.target}:"
            f" runs {o.running}, job {o.status}{'' if o.consistent else '  <-- WRONG'}"
            for o in outcomes
        ]
        return "\n".join(lines)
