"""`firmware_min_heap_kb`: the smallest GC heap on which the full firmware runs a customer's session.

The capacity figure a user needs (issue #11 "Memory, measured honestly"): not a sample of the
live heap, but whether the firmware, everything included, gets through its work on a heap of that
size. The session, on a fresh emulated board (firmware and shims as .mpy) per size tried, against
a real broker (mosquitto) and the cloud model:

1. boot blank, open the config page and submit the form with the certificate, key and CA as a
   customer uploads them (`rig.strategies.provisioning.CustomerSetup`), boot again and connect;
2. `CLICKS` SINGLE clicks, each detected and acknowledged by the broker (PUBACK: the board's
   `mqtt` `published` events);
3. the broker restarted (mosquitto ended for real, started again on its port): the board
   reconnects, and one more click is acknowledged.

A size passes when all that happens with no `error` event, traceback or MemoryError on the
console. Sizes are `micropython -X heapsize=<N>K` on the stock x64 unix port (8-byte words,
32-byte GC blocks; a 32-bit build holds the same objects in about 0.66 of that, see
`heap_wasm32`), bisected in `STEP_KB` steps: `CEILING_KB` is checked to pass first, `FLOOR_KB`
is taken to fail (the interpreter alone needs more). Near the limit a session may pass once and
fail the next time, so a size passes only when `REPEATS` sessions in a row pass (`--quick`: one
session of `CLICKS_QUICK` clicks); a session that fails with neither a MemoryError, a traceback
nor an `error` event (a time-out on a loaded machine) is run once more before it counts.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from rig import gestures
from rig.backends.local import local_backend
from rig.broker import MosquittoBroker
from rig.cloud.runtime import CloudRuntime, temporary_cloud
from rig.drivers.base import ExpectTimeout
from rig.drivers.emulated import EmulatedBoard
from rig.strategies.provisioning import CustomerSetup, Provisioned

METRICS = ("firmware_min_heap_kb",)

STEP_KB = 4
FLOOR_KB = 32
CEILING_KB = 160
CLICKS = 50
CLICKS_QUICK = 10
REPEATS = 2  # sessions in a row that must pass for a size to pass
REPEATS_QUICK = 1
WAIT_S = 30.0  # each step takes a few seconds; generous for a loaded 2-core machine
# Console text that marks a failure of the firmware itself, not of the machine running it.
FIRMWARE_FAILURES = ("MemoryError", "Traceback (most recent call last)")


class SessionFailed(Exception):
    """The scripted session did not complete on this heap size; the message says where.
    `by_firmware`: the console shows the firmware failed (MemoryError, traceback, `error` event),
    rather than the session timing out."""

    def __init__(self, message: str, by_firmware: bool = False) -> None:
        super().__init__(message)
        self.by_firmware = by_firmware


def smallest_passing(floor: int, ceiling: int, step: int, passes: Callable[[int], bool]) -> int:
    """The smallest size in (floor, ceiling], a multiple of `step` above `floor`, for which
    `passes(size)` holds, given that it holds at `ceiling` (checked first; ValueError if not)
    and at every size above one where it holds. `floor` is taken to fail and never tried."""
    if (ceiling - floor) % step:
        raise ValueError(f"{ceiling} - {floor} is not a multiple of {step}")
    if not passes(ceiling):
        raise ValueError(f"does not pass at the ceiling {ceiling}")
    failing, passing = floor, ceiling
    while passing - failing > step:
        middle = failing + (passing - failing) // (2 * step) * step
        if passes(middle):
            passing = middle
        else:
            failing = middle
    return passing


class Session:
    """The scripted session on one heap size (see the module's docstring)."""

    def __init__(self, runtime: CloudRuntime, workdir: Path, clicks: int) -> None:
        assert runtime.endpoint is not None and isinstance(runtime.broker, MosquittoBroker)
        self.runtime = runtime
        self.broker = runtime.broker
        self.setup = CustomerSetup(local_backend(runtime))
        self.workdir = workdir
        self.clicks = clicks

    def run(self, kb: int) -> None:
        """Raise SessionFailed unless the session completes cleanly on a `kb` KB heap."""
        with connected_board(self.workdir, "heap", kb, self.setup) as (board, _):
            self._click(board, self.clicks)
            self.broker.restart()
            expect_or_fail(board, "mqtt", state="down")
            expect_or_fail(board, "mqtt", state="up")
            self._click(board, 1)

    def _click(self, board: EmulatedBoard, n: int) -> None:
        """`n` SINGLE clicks, each detected; returns once the broker acknowledged them all."""
        acknowledged = len(_published(board))
        for _ in range(n):
            board.press(gestures.single(100))
            click = expect_or_fail(board, "click")
            if click["type"] != "SINGLE":
                raise SessionFailed(f"played SINGLE, the board saw {click}")
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline and not firmware_failed(board):
            published = _published(board)
            if len(published) >= acknowledged + n and published[-1]["left"] == 0:
                return
            time.sleep(0.1)
        raise SessionFailed(f"{n} clicks not acknowledged within {WAIT_S:.0f} s")


@contextlib.contextmanager
def connected_board(
    workdir: Path, name: str, kb: int, setup: CustomerSetup
) -> Iterator[tuple[EmulatedBoard, Provisioned]]:
    """A fresh emulated board on a `kb` KB heap (firmware and shims as .mpy), booted blank, set up
    through its config page and connected, for a session's body; closed after it. Whatever fails
    in the set-up or the body, and a body after which the firmware reports a failure, is
    SessionFailed with the console's tail."""
    board = EmulatedBoard(
        workdir / f"{name}{kb}k-{uuid.uuid4().hex[:6]}",
        f"{name}{kb}k",
        heapsize=f"{kb}K",
        mpy=True,
        unique_id=uuid.uuid4().hex[:12],
    )
    try:
        try:
            board.deploy()
            board.start()
            board.expect("boot", WAIT_S)
            yield board, setup.provision(board, timeout=WAIT_S)
        except Exception as exc:  # a board out of memory shows as a time-out here
            by_firmware = getattr(exc, "by_firmware", False) or firmware_failed(board)
            raise SessionFailed(_why(board, f"{type(exc).__name__}: {exc}"), by_firmware) from exc
        if firmware_failed(board):
            raise SessionFailed(_why(board, "the firmware reported a failure"), True)
    finally:
        board.close()


def _why(board: EmulatedBoard, what: str) -> str:
    tail = board.console_text()[-1200:]
    return f"{what}\n--- console tail ---\n{tail}"


def expect_or_fail(board: EmulatedBoard, ev: str, **fields: Any) -> dict[str, Any]:
    """`board.expect` that gives up as soon as the firmware reports a failure (a board out of
    memory would otherwise be waited for until the time-out)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            return board.expect(ev, 1.0, **fields)
        except ExpectTimeout:
            if firmware_failed(board) or time.monotonic() > deadline:
                raise


def firmware_failed(board: EmulatedBoard) -> bool:
    text = board.console_text()
    return bool(board.events("error")) or any(mark in text for mark in FIRMWARE_FAILURES)


def _published(board: EmulatedBoard) -> list[dict[str, Any]]:
    return [e for e in board.events("mqtt") if "published" in e]


class HeapSession(Protocol):
    def run(self, kb: int) -> None:
        """Raise SessionFailed unless the session completes cleanly on a `kb` KB heap."""
        ...


class HeapProbe:
    """`passes(kb)` for the bisection. Near the limit a session passes or fails from run to run
    (where the GC finds room depends on timing), so a size passes only when `repeats` sessions in
    a row pass. A session that failed in a way that does not point at the firmware (no
    MemoryError, traceback or `error` event: a time-out on a loaded machine) is run once more."""

    def __init__(self, session: HeapSession, repeats: int, label: str = "min_heap") -> None:
        self.session = session
        self.repeats = repeats
        self.label = label  # of its lines on the console
        self.tried: dict[int, str] = {}  # size → "ok" or why it failed (printed)

    def passes(self, kb: int) -> bool:
        for run in range(1, self.repeats + 1):
            if not self._one(kb, run):
                return False
        self.tried[kb] = "ok"
        return True

    def _one(self, kb: int, run: int) -> bool:
        for attempt in (1, 2):
            started = time.monotonic()
            try:
                self.session.run(kb)
            except SessionFailed as exc:
                first_line = str(exc).splitlines()[0][:160]
                print(
                    f"[{self.label}] {kb}K run {run}.{attempt}: failed ({first_line})", flush=True
                )
                self.tried[kb] = str(exc)
                if exc.by_firmware:
                    return False
                continue
            print(
                f"[{self.label}] {kb}K run {run}: passed in {time.monotonic() - started:.0f} s",
                flush=True,
            )
            return True
        return False


def run(ctx: Any) -> dict[str, int]:
    with temporary_cloud("min-heap-") as runtime:
        session = Session(runtime, Path(ctx.workdir), CLICKS_QUICK if ctx.quick else CLICKS)
        probe = HeapProbe(session, REPEATS_QUICK if ctx.quick else REPEATS)
        smallest = smallest_passing(FLOOR_KB, CEILING_KB, STEP_KB, probe.passes)
    failed_below = probe.tried.get(smallest - STEP_KB, "not tried (the floor)")
    print(f"[min_heap] {smallest - STEP_KB}K failed with: {failed_below[:2000]}", flush=True)
    print(f"[min_heap] sizes tried: {json.dumps(sorted(probe.tried))}", flush=True)
    return {"firmware_min_heap_kb": smallest}
