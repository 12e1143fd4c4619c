"""The streaming mode of rig/unix_port/process.py: expect's failure message shows what was
seen, an ended process fails the wait at once, and the process is always reaped."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from rig.unix_port.process import ExpectTimeout, MicroPythonError, MicroPythonProcess

CHATTY = """
import time
for i in range(30):
    print('line', i)
print('READY', 42)
time.sleep(60)
"""


def _reaped(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_expect_returns_the_line_and_keeps_what_it_read_past(tmp_path: Path) -> None:
    with MicroPythonProcess(CHATTY, workdir=tmp_path) as mp:
        assert mp.expect("READY") == "READY 42"
        assert mp.lines[:2] == ["line 0", "line 1"] and len(mp.lines) == 31
    assert _reaped(mp.process.pid) and mp.process.returncode is not None


def test_a_failed_wait_shows_the_last_lines_and_the_process_state(tmp_path: Path) -> None:
    with MicroPythonProcess(CHATTY, workdir=tmp_path) as mp:
        mp.expect("READY")
        with pytest.raises(ExpectTimeout) as failed:
            mp.expect(re.compile(r"DONE \d"), timeout=0.5)
    message = str(failed.value)
    assert "'DONE \\\\d'" in message and "still running" in message, message
    assert "READY 42" in message and "line 29" in message and "line 0\n" not in message
    assert f"the last {MicroPythonProcess.SHOWN_LINES} of 31 lines" in message
    assert _reaped(mp.process.pid)


def test_a_process_that_ends_fails_the_wait_at_once(tmp_path: Path) -> None:
    started = time.monotonic()
    with (
        MicroPythonProcess("print('bye')\nraise SystemExit(3)", workdir=tmp_path) as mp,
        pytest.raises(ExpectTimeout, match=r"exited with 3(.|\n)*bye"),
    ):
        mp.expect("NEVER", timeout=60)
    assert time.monotonic() - started < 30  # it did not sit out the 60 s


def test_close_refuses_a_console_with_a_secret_and_never_shows_it(tmp_path: Path) -> None:
    mp = MicroPythonProcess("print('key', 'c0ffee' * 4)", workdir=tmp_path, secrets=["c0ffee" * 4])
    with pytest.raises(ExpectTimeout) as failed:
        mp.expect("NEVER", timeout=30)
    assert "c0ffee" not in str(failed.value) and "key <secret>" in str(failed.value)
    with pytest.raises(MicroPythonError, match="secret") as leaked:
        mp.close()
    assert "c0ffee" not in str(leaked.value)
    assert _reaped(mp.process.pid)
