"""Click to callback: from a click's decision point on the board to the first line of the 1-Click
onClickCallback function it invokes.

One emulated Enterprise Button (firmware and shims as .mpy, serial `G030PM…`) is set up the
customer's way (rig.strategies.provisioning) against a real broker and the reference cloud
(`temporary_cloud`: the cloud service, the Lambda dispatcher); its 1-Click device is claimed by a
real press (initiate, click, finalize), put in a placement of a project whose device template's
onClickCallback is a local Lambda function, and enabled. Then SINGLE and LONG clicks, one at a
time, each waited for at the function before the next.

The path measured: the firmware's decision, its MQTT publish (TLS, QoS 1) through mosquitto to
the cloud service, the click log and the 1-Click delivery (device event recorded, payload built,
the Event invocation kept in the database), the dispatcher's runner thread, and the function's
warm worker process (docs/cloud-decisions.md L-2) calling the handler. The double-click window
is not in it: the decision point is after it.

Both ends on the host's CLOCK_MONOTONIC: the click's `t` (the board's ticks, converted and
cross-checked in rig/benchmarks/_decision.py) and `time.monotonic()` on the handler's first line,
which appends it with the click's reportedTime to a file named in the function's environment.

Metrics: `click_to_callback_ms_p50`, `click_to_callback_ms_p99` (nearest rank),
`click_callback_clicks` (how many clicks the figures are over: `CLICKS`, `CLICKS_QUICK` with
`--quick`).
"""

from __future__ import annotations

import io
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

from rig.backends.local import local_backend
from rig.benchmarks import _decision
from rig.cloud.clicks.store import ClickLog
from rig.cloud.runtime import temporary_cloud
from rig.drivers.emulated import EmulatedBoard
from rig.strategies.oneclick import Placement, claim_and_place
from rig.strategies.provisioning import CustomerSetup

METRICS = ("click_to_callback_ms_p50", "click_to_callback_ms_p99", "click_callback_clicks")
SERIAL = "G030PM00000BENCH1"  # an Enterprise Button serial: a 1-Click device id
CLICKS = 200
CLICKS_QUICK = 20
WAIT_S = _decision.WAIT_S
PLACED = Placement("ClickBench", "bench1", "button", {"site": "bench"})
FUNCTION = """
import os
import time


def handler(event, context):
    first_line = time.monotonic()
    with open(os.environ["FIRST_LINES"], "a") as out:
        out.write(event["deviceEvent"]["buttonClicked"]["reportedTime"] + " " + repr(first_line) + "\\n")
"""


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("callback.py", FUNCTION)
    return buffer.getvalue()


def _board(workdir: Path) -> EmulatedBoard:
    board = EmulatedBoard(workdir / "board", "bench", mpy=True, unique_id=uuid.uuid4().hex[:12])
    board.deploy({"serial": SERIAL.encode()})
    board.start()
    board.expect("boot", WAIT_S)
    return board


class FirstLines:
    """The callback's file of `reportedTime monotonic` lines, read as they come."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def lines(self) -> list[tuple[str, float]]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            reported, first_line = line.split()
            out.append((reported, float(first_line)))
        return out

    def wait_for(self, count: int) -> list[tuple[str, float]]:
        deadline = time.monotonic() + WAIT_S
        while len(found := self.lines()) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"callback {count} never ran ({len(found)} did)")
            time.sleep(0.002)
        if len(found) > count:
            raise RuntimeError(f"{len(found)} callbacks for {count} clicks")
        return found


class Split:
    """Each counted click's latency, and the share of it up to the click's arrival at the cloud
    service (the rest is the 1-Click delivery, the dispatcher and the function's worker)."""

    def __init__(self) -> None:
        self.total: list[float] = []
        self.to_cloud: list[float] = []

    def table(self) -> str:
        rows = [("decision -> function's first line", self.total)]
        rows.append(("decision -> click at the cloud", self.to_cloud))
        rest = [t - c for t, c in zip(self.total, self.to_cloud, strict=True)]
        rows.append(("cloud -> function's first line", rest))
        return "\n".join(
            f"  {name:36s} p50 {_decision.percentile(v, 50):6.1f}  p99 {_decision.percentile(v, 99):6.1f}"
            for name, v in rows
        )


def _latencies(board: EmulatedBoard, clicks: ClickLog, first_lines: FirstLines, n: int) -> Split:
    split = Split()
    for i in range(n + 1):  # click 0 starts the function's warm worker: not counted
        click = _decision.play(board, _decision.kind_of(i))
        _reported, first_line = first_lines.wait_for(i + 1)[-1]
        event_id = click.event["id"]
        got = {c.event_id: c for c in clicks.wait_for_ids(SERIAL, [event_id], WAIT_S)}
        if i > 0:
            split.total.append(click.latency_to(first_line * 1000))
            split.to_cloud.append(click.latency_to(got[event_id].received_mono_ms))
        board.expect("led", WAIT_S, pattern="off")  # the green light is over
    return split


def run(ctx: Any) -> dict[str, int | float]:
    n = CLICKS_QUICK if ctx.quick else CLICKS
    first_lines = FirstLines(ctx.workdir / "first-lines.txt")
    with temporary_cloud("click-callback-") as runtime:
        assert runtime.endpoint is not None
        cloud = runtime.cloud
        arn = cloud.functions.create_function(
            "ClickBench",
            "python3.12",
            "callback.handler",
            _zip(),
            environment={"Variables": {"FIRST_LINES": str(first_lines.path)}},
        )["FunctionArn"]
        board = _board(ctx.workdir)
        try:
            setup = CustomerSetup(local_backend(runtime)).provision(board)
            if setup.serial != SERIAL:
                raise RuntimeError(f"the board came up as {setup.serial}, not {SERIAL}")
            clicks = ClickLog(cloud.store)
            claim_and_place(cloud, board, SERIAL, arn, PLACED)
            split = _latencies(board, clicks, first_lines, n)
        finally:
            board.close()
    print(f"[click_callback] {n} clicks, ms from the board's decision point:")
    print(split.table())
    latencies = split.total
    return {
        "click_to_callback_ms_p50": round(_decision.percentile(latencies, 50), 1),
        "click_to_callback_ms_p99": round(_decision.percentile(latencies, 99), 1),
        "click_callback_clicks": len(latencies),
    }
