"""The rig's pytest plugin, the one place tests get boards and clouds from
(`pytest_plugins = ["rig.pytest_plugin"]`, or `pytest -p rig.pytest_plugin`).

* boards.py: `--board`, `--board-profile`, the `board` / `boards` fixtures, console tails in
  failure reports;
* cloud.py: the `cloud_runtime`, `cloud` and `device` fixtures (the local cloud's internals);
* backends.py: `--backend`, the `cloud_backend` fixture (the cloud behind rig/backends' interface)
  and the `needs(...)` marker;
* cli_runner.py: `buttonrig(...)` helpers that run the CLI from a test.
"""

from typing import Any

import pytest

from rig.pytest_plugin import backends
from rig.pytest_plugin import boards as board_options
from rig.pytest_plugin.backends import cloud_backend
from rig.pytest_plugin.boards import (
    board,
    board_profile,
    board_spec,
    boards,
    pytest_runtest_makereport,
)
from rig.pytest_plugin.cloud import cloud, cloud_runtime, device


def pytest_addoption(parser: pytest.Parser) -> None:
    board_options.add_options(parser)
    backends.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    board_options.configure(config)
    backends.configure(config)


def pytest_runtest_setup(item: pytest.Item) -> None:
    backends.runtest_setup(item)


def pytest_report_teststatus(report: pytest.TestReport) -> tuple[str, str, str] | None:
    return backends.report_teststatus(report)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    backends.terminal_summary(terminalreporter)


__all__ = [
    "board",
    "board_profile",
    "board_spec",
    "boards",
    "cloud",
    "cloud_backend",
    "cloud_runtime",
    "device",
    "pytest_addoption",
    "pytest_configure",
    "pytest_report_teststatus",
    "pytest_runtest_makereport",
    "pytest_runtest_setup",
    "pytest_terminal_summary",
]
