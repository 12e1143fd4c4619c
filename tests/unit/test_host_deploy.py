"""host/deploy.py: what gets built, and which files a deploy writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from host.deploy import (
    MIN_MICROPYTHON,
    VERSION_QUERY,
    BoardFile,
    DeployError,
    DeployReport,
    build_firmware,
    changed_files,
    deploy_files,
    parse_board_version,
    shadowing_sources,
)
from host.package import write_freeze_manifest, write_mip_package
from rig.unix_port.process import run_mp


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    firmware = tmp_path / "firmware"
    firmware.mkdir()
    (firmware / "main.py").write_text("import app\napp.main()\n")
    (firmware / "app.py").write_text("def main():\n    print('hi')\n")
    (firmware / "clicks.py").write_text("LONG_MS = 1500\n")
    boards = tmp_path / "boards"
    (boards / "devkit").mkdir(parents=True)
    (boards / "devkit" / "board.py").write_text('NAME = "devkit"\nBUTTON_PIN = 0\n')
    return firmware, boards


def test_modules_become_bytecode_main_stays_source(
    tree: tuple[Path, Path], tmp_path: Path
) -> None:
    firmware, boards = tree
    files = build_firmware("devkit", firmware, boards, tmp_path / "out")
    by_name = {f.name: f.data for f in files}
    assert sorted(by_name) == ["app.mpy", "board.mpy", "clicks.mpy", "main.py"]
    assert by_name["main.py"] == b"import app\napp.main()\n"
    for name in ("app.mpy", "board.mpy", "clicks.mpy"):
        assert by_name[name][:1] == b"M", name  # .mpy magic
        # bytecode only: the header's arch bits (high nibble of byte 2) are 0 = no native code
        assert by_name[name][2] >> 2 == 0, name
    assert (tmp_path / "out" / "app.mpy").read_bytes() == by_name["app.mpy"]


def test_a_source_build_gives_every_module_and_the_profile_as_source(
    tree: tuple[Path, Path], tmp_path: Path
) -> None:
    firmware, boards = tree
    files = build_firmware("devkit", firmware, boards, tmp_path / "out", bytecode=False)
    by_name = {f.name: f.data for f in files}
    assert sorted(by_name) == ["app.py", "board.py", "clicks.py", "main.py"]
    assert by_name["board.py"] == (boards / "devkit" / "board.py").read_bytes()
    assert not (tmp_path / "out").exists()  # nothing compiled


def test_builds_are_reproducible_so_hashes_mean_something(
    tree: tuple[Path, Path], tmp_path: Path
) -> None:
    firmware, boards = tree
    first = build_firmware("devkit", firmware, boards, tmp_path / "a")
    second = build_firmware("devkit", firmware, boards, tmp_path / "b")
    assert [f.sha256 for f in first] == [f.sha256 for f in second]


def test_only_changed_or_missing_files_are_written(
    tree: tuple[Path, Path], tmp_path: Path
) -> None:
    firmware, boards = tree
    before = build_firmware("devkit", firmware, boards, tmp_path / "out")
    on_board: dict[str, bytes | None] = {f.name: f.sha256 for f in before}
    assert changed_files(before, on_board) == []

    (firmware / "clicks.py").write_text("LONG_MS = 2000\n")
    after = build_firmware("devkit", firmware, boards, tmp_path / "out")
    assert [f.name for f in changed_files(after, on_board)] == ["clicks.mpy"]

    on_board["main.py"] = None  # deleted on the board
    assert [f.name for f in changed_files(after, on_board)] == ["clicks.mpy", "main.py"]


def test_a_source_file_that_would_shadow_bytecode_is_named() -> None:
    files = [BoardFile("app.mpy", b"M"), BoardFile("main.py", b""), BoardFile("serial", b"X")]
    assert shadowing_sources(files) == ["app.py"]


def test_a_syntax_error_names_the_file(tree: tuple[Path, Path], tmp_path: Path) -> None:
    firmware, boards = tree
    (firmware / "broken.py").write_text("def f(:\n")
    with pytest.raises(DeployError, match=r"mpy-cross failed on .*broken\.py"):
        build_firmware("devkit", firmware, boards, tmp_path / "out")


def test_an_unknown_board_lists_the_known_ones(tree: tuple[Path, Path], tmp_path: Path) -> None:
    firmware, boards = tree
    with pytest.raises(DeployError, match=r"known boards: devkit"):
        build_firmware("esp32-nope", firmware, boards, tmp_path / "out")


def test_the_report_names_what_changed() -> None:
    report = DeployReport(written=["app.mpy"], unchanged=["main.py"], removed=["app.py"])
    assert report.summary().splitlines() == [
        "1 written, 1 unchanged, 1 removed",
        "  wrote   app.mpy",
        "  removed app.py",
    ]


def test_the_mip_package_lists_every_built_file(tree: tuple[Path, Path], tmp_path: Path) -> None:
    firmware, boards = tree
    files = build_firmware("devkit", firmware, boards, tmp_path / "out")
    package = write_mip_package(files, tmp_path / "pkg", "1.2.3")
    listed = json.loads(package.read_text())
    assert listed["version"] == "1.2.3"
    assert listed["urls"] == [[f.name, f.name] for f in files]
    for f in files:
        assert (tmp_path / "pkg" / f.name).read_bytes() == f.data


def test_the_freeze_manifest_names_modules_not_main(
    tree: tuple[Path, Path], tmp_path: Path
) -> None:
    firmware, boards = tree
    text = write_freeze_manifest("devkit", tmp_path / "manifest.py", firmware, boards).read_text()
    assert f"module('app.py', base_path={str(firmware)!r})" in text
    assert f"module('board.py', base_path={str(boards / 'devkit')!r})" in text
    assert "main.py" not in text
    compile(text, "manifest.py", "exec")  # the manifest is Python


class _OldBoard:
    """A stand-in for mpremote's transport on a board whose image reports `version`: it answers
    the version query like MicroPython's raw REPL would and records what would be written."""

    def __init__(self, version: tuple[int, ...], name: str = "micropython") -> None:
        self.answer = repr((name, version)).encode() + b"\r\n"
        self.executed: list[str] = []
        self.written: list[str] = []

    def exec(self, command: str) -> bytes:
        self.executed.append(command)
        if "sys.implementation" in command:
            return self.answer
        return repr({}).encode()  # board_hashes: nothing on the flash yet

    def fs_writefile(self, name: str, data: bytes, chunk_size: int = 0) -> None:
        assert isinstance(data, bytes) and chunk_size > 0
        self.written.append(name)


@pytest.mark.parametrize(
    ("version", "shown"),
    [((1, 23, 0), "1.23.0"), ((1, 22, 2), "1.22.2"), ((1, 19, 1), "1.19.1")],
)
def test_deploy_refuses_a_board_older_than_micropython_1_24(
    version: tuple[int, ...], shown: str
) -> None:
    board = _OldBoard(version)
    files = [BoardFile("app.mpy", b"M"), BoardFile("main.py", b"import app\n")]
    with pytest.raises(DeployError) as refused:
        deploy_files(board, files)  # type: ignore[arg-type]  # the fake has what deploy uses
    message = str(refused.value)
    assert f"MicroPython {shown}" in message and "1.24 or newer" in message, message
    assert "buttonrig board flash" in message, message  # says what to do about it
    assert board.written == [], "nothing may be written to a board the firmware cannot run on"


@pytest.mark.parametrize("version", [(1, 24, 0), (1, 24, 1), (1, 28, 0), (2, 0, 0)])
def test_deploy_accepts_micropython_1_24_and_newer(version: tuple[int, ...]) -> None:
    board = _OldBoard(version)
    deploy_files(board, [BoardFile("app.mpy", b"M")])  # type: ignore[arg-type]
    assert board.written == ["app.mpy.tmp"]  # written, then renamed into place


def test_deploy_refuses_a_board_that_is_not_micropython() -> None:
    board = _OldBoard((3, 8, 0), name="circuitpython")
    with pytest.raises(DeployError, match="circuitpython"):
        deploy_files(board, [BoardFile("app.mpy", b"M")])  # type: ignore[arg-type]
    assert board.written == []


def test_the_version_query_runs_on_micropython(tmp_path: Path) -> None:
    """The query deploy sends is answered by a real MicroPython (the unix port) in the form
    deploy parses."""
    lines = run_mp(VERSION_QUERY, workdir=tmp_path)
    name, version = parse_board_version("\n".join(lines))
    assert name == "micropython" and version >= MIN_MICROPYTHON, (name, version)


def test_a_file_in_a_directory_gets_its_directories_first() -> None:
    board = _OldBoard((1, 28, 0))
    deploy_files(board, [BoardFile("pki/sub/key.der", b"K")])  # type: ignore[arg-type]
    mkdir = next(c for c in board.executed if "os.mkdir" in c)
    assert "['pki', 'pki/sub']" in mkdir, mkdir  # parents before children
    assert board.executed.index(mkdir) < len(board.executed) - 1  # before the rename
    assert board.written == ["pki/sub/key.der.tmp"]
    exec(mkdir.replace("os.mkdir(d)", "made.append(d)"), {"made": (made := [])})
    assert made == ["pki", "pki/sub"]


def test_a_source_deployed_on_purpose_is_not_removed_as_a_shadow() -> None:
    files = [BoardFile("services.mpy", b"M"), BoardFile("services.py", b"def register(app): pass")]
    assert shadowing_sources(files) == []
