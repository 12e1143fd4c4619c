"""Unix-port processes count ticks from the app's start, as esp_timer does on the ESP32
(rig/unix_port/app_clock.py), and say so when the host does not allow it."""

from __future__ import annotations

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
