"""rig/pytest_plugin/backends.py: on a backend without a capability a test needs, the test is
reported NOT APPLICABLE (its own category in the summary), neither passed nor silently skipped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

INNER_TESTS = """
import pytest

def test_backend_agnostic():
    assert True

@pytest.mark.needs("local-cloud")
def test_needs_the_local_cloud():
    assert True

def test_uses_the_local_cloud(cloud_runtime):
    assert cloud_runtime.endpoint is not None
"""


def run_inner(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_inner.py").write_text(INNER_TESTS)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-rA", "-p", "rig.pytest_plugin", *args, "test_inner.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_tests_needing_the_local_cloud_are_not_applicable_on_aws(tmp_path: Path) -> None:
    run = run_inner(tmp_path, "--backend", "aws", "-k", "not uses_the_local")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout and "1 not applicable" in run.stdout, run.stdout
    assert "not applicable on backend aws: needs local-cloud" in run.stdout, run.stdout
    assert " skipped" not in run.stdout, run.stdout


def test_the_local_cloud_fixture_is_not_applicable_on_aws(tmp_path: Path) -> None:
    run = run_inner(tmp_path, "--backend", "aws", "-k", "uses_the_local")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 not applicable" in run.stdout, run.stdout


def test_every_test_runs_on_the_local_backend(tmp_path: Path) -> None:
    run = run_inner(tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 passed" in run.stdout and "not applicable" not in run.stdout, run.stdout
