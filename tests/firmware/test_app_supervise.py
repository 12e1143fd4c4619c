"""firmware/app.py's service supervisor on the unix port: a service that fails is restarted, even
when the heap has no room left to report its failure (a MemoryError in the `error` event itself
ended the supervisor before, and with it the service for good: a button that never clicks again
until it is reset)."""

from __future__ import annotations

from host.paths import BOARDS_DIR, FIRMWARE_DIR, SHIMS_DIR
from rig.unix_port.process import run_mp

SCRIPT = """
import asyncio
import app, events

emit = events.emit
def emit_without_room(ev, **fields):
    if ev == "error":
        raise MemoryError("memory allocation failed, allocating 116 bytes")
    emit(ev, **fields)
events.emit = emit_without_room

class Flaky:
    runs = 0
    async def run(self):
        self.runs += 1
        print("RUN", self.runs)
        if self.runs == 1:
            raise MemoryError("memory allocation failed, allocating 828 bytes")

async def main():
    await asyncio.wait_for(app.App()._supervise(Flaky()), 10)
    print("DONE")

asyncio.run(main())
"""


def test_a_service_is_restarted_when_its_failure_cannot_be_reported() -> None:
    lines = run_mp(SCRIPT, path=(FIRMWARE_DIR, SHIMS_DIR, BOARDS_DIR / "emulated"))
    assert lines[-3:] == ["RUN 1", "RUN 2", "DONE"], lines


HEAP_REPORTS = """
import asyncio
import app, events

calls = []
def heap_without_room():
    calls.append(1)
    if len(calls) == 1:
        raise MemoryError("memory allocation failed, allocating 96 bytes")
    print("HEAP", len(calls))
events.heap = heap_without_room

class Idle:
    async def run(self):
        pass

async def main():
    a = app.App()
    a.settings.values["heap_report_s"] = 1
    a.led = a.button = Idle()
    try:
        await asyncio.wait_for(a.run(), 2.5)
    except asyncio.TimeoutError:
        print("STILL RUNNING")

asyncio.run(main())
"""


def test_the_heap_report_loop_outlives_a_report_that_finds_no_room() -> None:
    """App.run ends in the heap report loop: a MemoryError there ended app.main(), the firmware."""
    lines = run_mp(HEAP_REPORTS, path=(FIRMWARE_DIR, SHIMS_DIR, BOARDS_DIR / "emulated"))
    # the first report failed; the loop went on reporting and App.run was still running
    assert "HEAP 2" in lines and lines[-1] == "STILL RUNNING", lines
