"""Firmware bundles for OTA jobs: a firmware build packed into one file under `<home>/files/`,
and the job document that points a device at it (docs/contracts.md "OTA job document").

A bundle is an uncompressed POSIX ustar archive of the files as they go on the board's root
(flat names, sorted, mtime 0, mode 0644): MicroPython's own `tarfile` (micropython-lib) reads it,
and a device can check and unpack it as it streams, 512-byte block by block, without holding it
in RAM. The same files give the same bytes, so making a bundle again is harmless; a different
build under a version that already has a bundle is refused (a URL a device may be downloading
never changes under it).
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import re
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rig.cloud.files.server import files_dir, home_port, url_of

VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
NOT_ON_BOARD = frozenset({"manifest.py"})  # as host/deploy.py: read by a freeze, never deployed
MODULE_SUFFIXES = (".mpy", ".py")


class BundleError(ValueError):
    """A bundle that cannot be made; the message says why."""


@dataclass(frozen=True)
class Bundle:
    path: Path
    version: str
    sha256: str
    size: int
    members: tuple[str, ...]

    def document(self, port: int) -> dict[str, Any]:
        """The OTA job document for this bundle, served on `port`."""
        return {
            "operation": "ota",
            "version": self.version,
            "url": url_of(port, self.path.name),
            "sha256": self.sha256,
            "size": self.size,
        }


def directory_files(directory: Path) -> list[tuple[str, bytes]]:
    """The board files of a build or source directory: its top-level `.mpy` and `.py` files,
    without the freeze manifest and without a `.py` an `.mpy` of the same module shadows
    (deploy removes such a `.py`: MicroPython would import it first)."""
    if not directory.is_dir():
        raise BundleError(f"{directory} is not a directory")
    paths = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in MODULE_SUFFIXES)
    compiled = {p.stem for p in paths if p.suffix == ".mpy"}
    chosen = [
        p
        for p in paths
        if p.name not in NOT_ON_BOARD and not (p.suffix == ".py" and p.stem in compiled)
    ]
    if not chosen:
        raise BundleError(f"{directory} has no firmware modules (.mpy or .py files)")
    return [(p.name, p.read_bytes()) for p in chosen]


def source_version(directory: Path) -> str | None:
    """`FW_VERSION` of the firmware's `identity.py` in `directory`, if it has one."""
    try:
        tree = ast.parse((directory / "identity.py").read_text())
    except (OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "FW_VERSION" for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    return None


def pack(files: Sequence[tuple[str, bytes]]) -> bytes:
    """The ustar archive of `files` (name, data), byte-identical for the same files."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def write_bundle(home: Path, files: Sequence[tuple[str, bytes]], version: str) -> Bundle:
    """`<home>/files/firmware-<version>.tar` and its document `firmware-<version>.json`."""
    if not VERSION.fullmatch(version):
        raise BundleError(
            f"version {version!r}: 1-64 of letters, digits and . _ + -, starting with a letter"
            " or digit (it names the bundle's file)"
        )
    data = pack(files)
    root = files_dir(home)
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"firmware-{version}.tar"
    if target.exists() and target.read_bytes() != data:
        raise BundleError(
            f"{target} already exists with another build: give another --version (a device may"
            " be downloading that one)"
        )
    bundle = Bundle(
        target, version, hashlib.sha256(data).hexdigest(), len(data), tuple(n for n, _ in files)
    )
    _write_atomically(target, data)
    document = bundle.document(home_port(home))
    _write_atomically(target.with_suffix(".json"), (json.dumps(document) + "\n").encode())
    return bundle


def _write_atomically(target: Path, data: bytes) -> None:
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, target)
