"""firmware/store.py: atomic replace leaves the old or the new content, never half of it."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from host.paths import FIRMWARE_DIR
from rig.unix_port.process import run_mp_json

sys.path.insert(0, str(FIRMWARE_DIR))
store: Any = importlib.import_module("store")  # the firmware module, run by CPython


@pytest.fixture
def flash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_write_then_read_round_trip(flash: Path) -> None:
    store.write_json("a.json", {"x": [1, 2]})
    assert store.read_json("a.json") == {"x": [1, 2]}
    assert not (flash / "a.json.tmp").exists()
    assert store.read_json("missing.json") is None


def test_power_cut_while_writing_keeps_the_old_file(
    flash: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.write_bytes("f", b"old content")

    def cut(_src: str, _dst: str) -> None:  # power lost before the rename happens
        raise KeyboardInterrupt

    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(os, "rename", cut)
        store.write_bytes("f", b"new content that never lands")
    assert (flash / "f").read_bytes() == b"old content"
    assert store.read_bytes("f") == b"old content"


def test_fat_style_rename_falls_back_and_a_lone_tmp_is_recovered(
    flash: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.write_bytes("f", b"v1")
    real_rename = os.rename

    def fat_rename(src: str, dst: str) -> None:
        if os.path.exists(dst):
            raise OSError(17, "exists")
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", fat_rename)
    store.write_bytes("f", b"v2")
    assert store.read_bytes("f") == b"v2"
    # power lost between remove and rename: only the complete .tmp is left
    (flash / "f.tmp").write_bytes(b"v3")
    (flash / "f").unlink()
    assert store.read_bytes("f") == b"v3"


def test_corrupt_json_raises_value_error(flash: Path) -> None:
    (flash / "c.json").write_bytes(b'{"half": ')
    with pytest.raises(ValueError):
        store.read_json("c.json")


def test_store_on_the_unix_port(tmp_path: Path) -> None:
    src = (
        "import json, os, store\n"
        "store.write_json('s.json', {'k': 1})\n"
        "store.write_json('s.json', {'k': 2})\n"
        "r = [store.read_json('s.json'), store.exists('s.json.tmp'), store.read_json('none')]\n"
        "try:\n"
        "    store.read_json('bad.json')\n"
        "    r.append('no error')\n"
        "except ValueError:\n"
        "    r.append('ValueError')\n"
        "store.remove('s.json')\n"
        "r.append(store.exists('s.json'))\n"
        "print(json.dumps(r))\n"
    )
    got = run_mp_json(src, workdir=tmp_path, files={"bad.json": b"{nope"})
    assert got == [{"k": 2}, False, None, "ValueError", False]
