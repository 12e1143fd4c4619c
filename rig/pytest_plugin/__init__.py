"""The rig's pytest plugin, the one place tests get boards and clouds from
(`pytest_plugins = ["rig.pytest_plugin"]`, or `pytest -p rig.pytest_plugin`).

* boards.py: `--board`, `--board-profile`, the `board` / `boards` fixtures, console tails in
  failure reports;
* cloud.py: the `cloud_runtime`, `cloud` and `device` fixtures;
* cli_runner.py: `buttonrig(...)` helpers that run the CLI from a test.
"""

from rig.pytest_plugin.boards import (
    board,
    board_profile,
    board_spec,
    boards,
    pytest_addoption,
    pytest_configure,
    pytest_runtest_makereport,
)
from rig.pytest_plugin.cloud import cloud, cloud_runtime, device

__all__ = [
    "board",
    "board_profile",
    "board_spec",
    "boards",
    "cloud",
    "cloud_runtime",
    "device",
    "pytest_addoption",
    "pytest_configure",
    "pytest_runtest_makereport",
]
