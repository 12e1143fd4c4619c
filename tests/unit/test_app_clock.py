"""Unix-port processes count ticks from the app's start, as esp_timer does on the ESP32
(rig/unix_port/app_clock.py), and say so when the host does not allow it."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from rig.unix_port import app_clock
from rig.unix_port.process import run_mp_json


def test_ticks_start_a_second_before_the_first_line() -> None:
    first = run_mp_json("import time\nprint(time.ticks_ms())")
    assert app_clock.START_MS <= first < app_clock.START_MS + 1000


def test_without_a_time_namespace_the_rig_warns_and_runs_on_the_hosts_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app_clock, "_available", lambda: False)
    with pytest.warns(RuntimeWarning, match="host's boot"):
        assert app_clock.app_clock_prefix() == []


def test_the_hosts_clock_maps_onto_a_process_ticks_by_its_namespace_offset() -> None:
    """A process started at tick 0 reads host monotonic + the offset read from the host side
    (0 where the host allows no time namespace)."""
    argv = [*app_clock.wake_clock_prefix(), sys.executable, "-c", CHILD]
    with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as child:
        assert child.stdout is not None and child.stdin is not None
        child_ns = int(child.stdout.readline())
        host_ns = time.monotonic_ns()
        offset_ns = app_clock.monotonic_offset_ns(child.pid)
        child.stdin.close()
    if app_clock._available():
        assert child_ns < 10 * 10**9  # ticks from the process's start, not the host's boot
    assert 0 <= (host_ns + offset_ns) - child_ns < 2 * 10**9


def test_a_process_on_the_hosts_clock_has_no_offset() -> None:
    assert app_clock.monotonic_offset_ns(os.getpid()) == 0


CHILD = "import sys, time; print(time.monotonic_ns(), flush=True); sys.stdin.read()"
