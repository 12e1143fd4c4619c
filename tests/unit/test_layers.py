"""The layering of docs/architecture.md is a contract `make lint` checks (import-linter): the real
tree keeps it, and a copy with one import that breaks a layer fails it, naming the import."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from host.paths import REPO_ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
    )


def _copy_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    shutil.copy(REPO_ROOT / "pyproject.toml", tree)
    for package in ("rig", "host"):
        shutil.copytree(
            REPO_ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    return tree


def test_the_tree_keeps_every_layer_contract() -> None:
    result = _lint_imports(REPO_ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


def test_a_cloud_core_module_importing_a_service_breaks_the_build(tmp_path: Path) -> None:
    tree = _copy_tree(tmp_path)
    store = tree / "rig/cloud/core/store.py"
    store.write_text(
        store.read_text() + "\nfrom rig.cloud.shadow import engine  # a layer break\n"
    )
    result = _lint_imports(tree)
    assert result.returncode != 0
    assert "rig.cloud.core.store -> rig.cloud.shadow.engine" in result.stdout


def test_a_host_tool_importing_the_rig_breaks_the_build(tmp_path: Path) -> None:
    tree = _copy_tree(tmp_path)
    paths = tree / "host/paths.py"
    paths.write_text(paths.read_text() + "\nimport rig.drivers  # a layer break\n")
    result = _lint_imports(tree)
    assert result.returncode != 0
    assert "host is not allowed to import rig" in result.stdout


def test_one_service_importing_another_breaks_the_build(tmp_path: Path) -> None:
    tree = _copy_tree(tmp_path)
    clicks = tree / "rig/cloud/clicks/store.py"
    clicks.write_text(
        clicks.read_text() + "\nfrom rig.cloud.shadow import store  # a layer break\n"
    )
    result = _lint_imports(tree)
    assert result.returncode != 0
    assert "rig.cloud.clicks.store -> rig.cloud.shadow.store" in result.stdout
