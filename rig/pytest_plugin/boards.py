"""pytest plugin: the `--board` and `--board-profile` options and the `board` / `boards` fixtures.

`--board-profile NAME` (a folder under boards/, default esp32-devkitc) says what a physical board
on `--board /dev/ttyUSB0` or an rfc2217:// URL is: its pins, LED and how the rig presses and
resets it. Emulated boards ignore it.

`board` is one deployed, started board whose `boot` event was seen, closed after the test.
`boards(n)` gives n of them at once (each with its own flash, ports and console). Markers:
`@pytest.mark.board_files({"settings.json": b"..."})` puts files on the flash before start;
`@pytest.mark.board_options(heapsize="64K")` passes driver options (emulated boards).
A failing test gets each board's console tail in its report.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from host.paths import BOARDS_DIR
from rig.drivers.base import Board
from rig.drivers.emulated import EmulatedBoard
from rig.drivers.factory import DEFAULT_PHYSICAL_PROFILE, EMULATED, BoardSpecError, open_board

BOOT_TIMEOUT_S = 30.0  # generous: a loaded 2-core CI machine
BoardFactory = Callable[..., list[Board]]
_BOARDS_KEY = pytest.StashKey[list[Board]]()


def add_options(parser: pytest.Parser) -> None:
    parser.addoption(
        "--board",
        default=EMULATED,
        help='board to run end-to-end tests on: "emulated" (default), "emulated-rfc2217", or '
        "a serial port / rfc2217:// URL of a physical button (rig/drivers/factory.py)",
    )
    parser.addoption(
        "--board-profile",
        default=DEFAULT_PHYSICAL_PROFILE,
        help="what the physical board on --board is: a folder under boards/"
        f" (default {DEFAULT_PHYSICAL_PROFILE})",
    )


def configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "board_files(files): files on the board's flash at start")
    config.addinivalue_line("markers", "board_options(**options): board driver options")


@pytest.fixture(scope="session")
def board_spec(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--board"))


def check_profile(name: str) -> str:
    """A board profile name under boards/; pytest.UsageError naming the known ones otherwise."""
    if not (BOARDS_DIR / name / "board.py").is_file():
        known = sorted(p.parent.name for p in BOARDS_DIR.glob("*/board.py"))
        raise pytest.UsageError(
            f"--board-profile {name!r}: no boards/{name}/board.py; use one of {known}"
        )
    return name


@pytest.fixture(scope="session")
def board_profile(request: pytest.FixtureRequest) -> str:
    return check_profile(str(request.config.getoption("--board-profile")))


def open_test_board(
    spec: str, workdir: Path, name: str, profile: str, options: dict[str, Any]
) -> Board:
    """The board a test gets: emulated with driver `options`, else what `spec` names, a physical
    board being of `profile`."""
    try:
        if spec == EMULATED:
            return EmulatedBoard(workdir / name, name, **options)
        return open_board(spec, workdir, name, profile=profile)  # driver options do not apply
    except BoardSpecError as exc:
        raise pytest.UsageError(str(exc)) from exc


def _marker_files(request: pytest.FixtureRequest) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for mark in request.node.iter_markers("board_files"):
        files.update(mark.args[0] if mark.args else {})
    return files


def _marker_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for mark in request.node.iter_markers("board_options"):
        options.update(mark.kwargs)
    return options


@pytest.fixture
def boards(
    request: pytest.FixtureRequest, board_spec: str, board_profile: str, tmp_path: Path
) -> Iterator[BoardFactory]:
    """`boards(n, **options)` → n started boards (boot seen); all closed after the test."""
    opened: list[Board] = []
    request.node.stash[_BOARDS_KEY] = opened

    def make(n: int = 1, **options: Any) -> list[Board]:
        if n > 1 and board_spec != EMULATED:
            pytest.skip(f"needs {n} boards; --board {board_spec} is one physical board")
        made: list[Board] = []
        for _ in range(n):
            index = len(opened)
            name = f"board{index}"
            opts = {**_marker_options(request), **options}
            board = open_test_board(board_spec, tmp_path, name, board_profile, opts)
            opened.append(board)
            board.deploy(_marker_files(request))
            made.append(board)
        for board in made:
            board.start()
        for board in made:
            board.expect("boot", BOOT_TIMEOUT_S)
        return made

    try:
        yield make
    finally:
        for board in opened:
            with contextlib.suppress(Exception):
                board.close()


@pytest.fixture
def board(boards: BoardFactory) -> Board:
    """One deployed and started board whose `boot` event was seen."""
    return boards(1)[0]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed and call.when in ("call", "setup"):
        for board in item.stash.get(_BOARDS_KEY, []):
            with contextlib.suppress(Exception):
                report.sections.append((f"console of {board.name}", board.console_text()[-4000:]))
    return report
