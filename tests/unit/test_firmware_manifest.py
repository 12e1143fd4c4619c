"""firmware/manifest.py freezes every firmware module (and the board profile) into a MicroPython
image. It is run here the way MicroPython's tools/manifestfile.py runs a manifest: `exec` with
`include`, `module`, `package`, `freeze`, `require`, `metadata` and `options` as globals, in the
manifest's own directory (relative paths are taken from there), `$(PORT_DIR)` substituted."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from host.deploy import SOURCE_ONLY, build_firmware, firmware_sources
from host.paths import BOARDS_DIR, FIRMWARE_DIR

MANIFEST = FIRMWARE_DIR / "manifest.py"
PORT_DIR = "/opt/micropython/ports/esp32"


class _Options:
    """manifestfile.IncludeOptions: include() keyword arguments over defaults()."""

    def __init__(self, **given: Any) -> None:
        self._given = given
        self._defaults: dict[str, Any] = {}

    def defaults(self, **defaults: Any) -> None:
        self._defaults = defaults

    def __getattr__(self, name: str) -> Any:
        return self._given.get(name, self._defaults.get(name))


class _ManifestRun:
    """What the manifest asked MicroPython's build to freeze (frozen name → source file)."""

    def __init__(self, **options: Any) -> None:
        self.frozen: dict[str, Path] = {}
        self.included: list[str] = []
        self.options = _Options(**options)

    def _resolve(self, path: str) -> Path:
        return Path(os.path.abspath(path.replace("$(PORT_DIR)", PORT_DIR)))

    def module(self, module_path: str, base_path: str = ".", opt: int | None = None) -> None:
        assert module_path.endswith(".py"), "module must be .py file"
        assert opt is None
        self.frozen[module_path] = self._resolve(base_path) / module_path

    def include(self, manifest_path: str, **kwargs: Any) -> None:
        assert not kwargs
        self.included.append(str(self._resolve(manifest_path)))

    def unexpected(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"unexpected manifest call {args} {kwargs}")

    def run(self) -> _ManifestRun:
        api = {
            "module": self.module,
            "include": self.include,
            "options": self.options,
            "package": self.unexpected,
            "freeze": self.unexpected,
            "require": self.unexpected,
            "metadata": self.unexpected,
        }
        cwd = Path.cwd()
        os.chdir(MANIFEST.parent)
        try:
            exec(compile(MANIFEST.read_text(), str(MANIFEST), "exec"), api)
        finally:
            os.chdir(cwd)
        return self


def test_the_manifest_freezes_every_firmware_module_and_the_board_profile() -> None:
    run = _ManifestRun().run()
    modules = {p.name for p in firmware_sources() if p.name not in SOURCE_ONLY}
    assert set(run.frozen) == modules | {"board.py"}
    for name in modules:
        assert run.frozen[name] == FIRMWARE_DIR / name
    assert run.frozen["board.py"] == BOARDS_DIR / "esp32-devkitc" / "board.py"
    assert all(path.is_file() for path in run.frozen.values())
    assert run.included == [f"{PORT_DIR}/boards/manifest.py"]  # the port's own frozen modules


def test_the_frozen_modules_are_what_a_deploy_writes(tmp_path: Path) -> None:
    run = _ManifestRun().run()
    deployed = {f.name for f in build_firmware("esp32-devkitc", out_dir=tmp_path)}
    frozen_as_mpy = {name.replace(".py", ".mpy") for name in run.frozen}
    assert deployed == frozen_as_mpy | SOURCE_ONLY  # main.py stays on the filesystem


@pytest.mark.parametrize("board", ["esp32-s3-devkitc-1", "m5stack-atom"])
def test_another_board_profile_is_an_include_option(board: str) -> None:
    run = _ManifestRun(board=board).run()
    assert run.frozen["board.py"] == BOARDS_DIR / board / "board.py"


def test_the_manifest_is_never_deployed(tmp_path: Path) -> None:
    names = {f.name for f in build_firmware("esp32-devkitc", out_dir=tmp_path)}
    assert "manifest.mpy" not in names and "manifest.py" not in names
