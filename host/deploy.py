"""Build the firmware (bytecode .mpy) and copy what changed to a board over the raw REPL.

Build: every `firmware/*.py` except `main.py` is compiled with mpy-cross, bytecode only (no
`-march`), so the same `.mpy` runs on the ESP32 and on the unix port; `main.py` stays source (the
board only runs `main.py`); the board's profile `boards/<name>/board.py` becomes `board.mpy`.

Deploy: the board's MicroPython must be 1.24 or newer (`MIN_MICROPYTHON`; asked first, nothing
is written to an older one). The board hashes the files it has (one raw-REPL round trip), only the files whose SHA-256
differs are written (to `<name>.tmp`, then renamed, so an interrupted deploy never leaves half a
module), and a `.py` that would shadow a deployed `.mpy` is removed (MicroPython imports `.py`
first).
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mpremote.transport_serial import SerialTransport

from host.mpy import MpyCompileError, compile_module
from host.paths import BOARDS_DIR, BUILD_ROOT, FIRMWARE_DIR
from host.transport import TransportExecError, raw_repl

BUILD_DIR = BUILD_ROOT / "mpy"

SOURCE_ONLY = frozenset({"main.py"})  # the board runs main.py as source, never main.mpy
# Read by MicroPython's build to freeze the firmware into an image; never on a board.
NOT_ON_BOARD = frozenset({"manifest.py"})
# The firmware needs the `tls` module with `SSLContext.verify_callback` (MicroPython 1.23, PR
# #12259) and DER PKCS#8 keys parsed with their exact length (1.24, PR #14385: before it mbedTLS 3
# rejects them as "invalid key"). docs/esp32-differences.md "TLS and the MicroPython version".
MIN_MICROPYTHON = (1, 24)
VERSION_QUERY = (
    "import sys\nprint(repr((sys.implementation.name, tuple(sys.implementation.version[:3]))))"
)
WRITE_CHUNK = 1024  # bytes per raw-REPL exec; raw-paste keeps this cheap


class DeployError(Exception):
    """Building or copying the firmware failed; the message says which file and why."""


@dataclass(frozen=True)
class BoardFile:
    """One file as it must be on the board's flash."""

    name: str  # path on the board, relative to its root
    data: bytes

    @property
    def sha256(self) -> bytes:
        return hashlib.sha256(self.data).digest()


@dataclass
class DeployReport:
    """What a deploy did, file by file."""

    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{len(self.written)} written", f"{len(self.unchanged)} unchanged"]
        if self.removed:
            parts.append(f"{len(self.removed)} removed")
        lines = [", ".join(parts)]
        lines += [f"  wrote   {name}" for name in self.written]
        lines += [f"  removed {name}" for name in self.removed]
        return "\n".join(lines)


def firmware_sources(firmware_dir: Path = FIRMWARE_DIR) -> list[Path]:
    """The firmware's modules as they go to a board (main.py included, the freeze manifest not)."""
    return sorted(p for p in firmware_dir.glob("*.py") if p.name not in NOT_ON_BOARD)


def build_firmware(
    board: str,
    firmware_dir: Path = FIRMWARE_DIR,
    boards_dir: Path = BOARDS_DIR,
    out_dir: Path = BUILD_DIR,
    *,
    bytecode: bool = True,
) -> list[BoardFile]:
    """Compile the firmware and the board's profile into `out_dir`; return the files to deploy.

    `bytecode=False` gives every module as source instead (`<name>.py`, the profile as
    `board.py`): an emulated board run from source shows tracebacks with line text."""
    profile = boards_dir / board / "board.py"
    if not profile.is_file():
        known = sorted(p.parent.name for p in boards_dir.glob("*/board.py"))
        raise DeployError(
            f"no board profile {profile} (known boards: {', '.join(known) or 'none'})"
        )
    sources = firmware_sources(firmware_dir)
    if not any(s.name == "main.py" for s in sources):
        raise DeployError(f"{firmware_dir} has no main.py (found: {[s.name for s in sources]})")
    if not bytecode:
        return [BoardFile(source.name, source.read_bytes()) for source in [*sources, profile]]
    files: list[BoardFile] = []
    try:
        for source in sources:
            if source.name in SOURCE_ONLY:
                files.append(BoardFile(source.name, source.read_bytes()))
            else:
                mpy = source.with_suffix(".mpy").name
                files.append(BoardFile(mpy, compile_module(source, out_dir / mpy)))
        profile_mpy = compile_module(profile, out_dir / board / "board.mpy")
    except MpyCompileError as exc:
        raise DeployError(str(exc)) from exc
    files.append(BoardFile("board.mpy", profile_mpy))
    return files


def shadowing_sources(files: Iterable[BoardFile]) -> list[str]:
    """`.py` names that would be imported instead of a deployed `.mpy` of the same module, unless
    that `.py` is deployed too (a test's stand-in `services.py` over the firmware's)."""
    files = list(files)
    deployed = {f.name for f in files}
    shadows = [f.name[: -len(".mpy")] + ".py" for f in files if f.name.endswith(".mpy")]
    return [name for name in shadows if name not in deployed]


def changed_files(
    files: Sequence[BoardFile], on_board: Mapping[str, bytes | None]
) -> list[BoardFile]:
    """The files whose content differs from the board's (a missing file has hash None)."""
    return [f for f in files if on_board.get(f.name) != f.sha256]


_HASH_SNIPPET = """
import hashlib
def _h(n):
    try:
        f = open(n, 'rb')
    except OSError:
        return None
    h = hashlib.sha256()
    b = bytearray(512)
    while True:
        k = f.readinto(b)
        if not k:
            break
        h.update(b[:k])
    f.close()
    return h.digest()
print(repr({n: _h(n) for n in NAMES}))
del _h
"""


def board_hashes(transport: SerialTransport, names: Sequence[str]) -> dict[str, bytes | None]:
    """SHA-256 of each named file on the board (None if absent), in one raw-REPL exec."""
    out = transport.exec(_HASH_SNIPPET.replace("NAMES", repr(list(names))))
    return ast.literal_eval(out.decode().strip())


def existing_files(transport: SerialTransport, names: Sequence[str]) -> list[str]:
    """Which of `names` exist in the board's root directory."""
    out = transport.exec(
        f"import os\nprint(repr([n for n in {list(names)!r} if n in os.listdir()]))"
    )
    return list(ast.literal_eval(out.decode().strip()))


def write_atomically(transport: SerialTransport, file: BoardFile) -> None:
    """Write `<name>.tmp`, then rename it over `<name>` (a cut mid-write leaves the old file)."""
    tmp = file.name + ".tmp"
    parents = [file.name.rsplit("/", depth)[0] for depth in range(file.name.count("/"), 0, -1)]
    try:
        if parents:  # e.g. pki/key.der on a blank flash: the directories come first
            transport.exec(
                f"import os\nfor d in {parents!r}:\n try: os.mkdir(d)\n except OSError: pass"
            )
        transport.fs_writefile(tmp, file.data, chunk_size=WRITE_CHUNK)
        transport.exec(f"import os\nos.rename({tmp!r}, {file.name!r})")
    except TransportExecError as exc:
        raise DeployError(f"writing {file.name} failed on the board: {exc.error_output}") from exc


def parse_board_version(answer: str) -> tuple[str, tuple[int, ...]]:
    """(implementation name, version) from the board's answer to `VERSION_QUERY`."""
    try:
        name, version = ast.literal_eval(answer.strip().splitlines()[-1])
        return str(name), tuple(int(v) for v in version)
    except (ValueError, SyntaxError, IndexError, TypeError) as exc:
        raise DeployError(f"the board did not say which MicroPython it runs: {answer!r}") from exc


def check_board_version(name: str, version: tuple[int, ...]) -> None:
    """DeployError, saying what to do, unless the board runs MicroPython `MIN_MICROPYTHON` or newer."""
    need = ".".join(map(str, MIN_MICROPYTHON))
    shown = ".".join(map(str, version))
    if name != "micropython":
        raise DeployError(
            f"the board runs {name} {shown}, not MicroPython; the firmware needs "
            f"MicroPython {need} or newer"
        )
    if version[: len(MIN_MICROPYTHON)] < MIN_MICROPYTHON:
        raise DeployError(
            f"the board runs MicroPython {shown}; the firmware needs {need} or newer (the tls "
            "module with verify_callback, and DER keys as mbedTLS 3 reads them). Flash a newer "
            "image first: buttonrig board flash --image <ESP32_GENERIC-….bin>"
        )


def board_version(transport: SerialTransport) -> tuple[str, tuple[int, ...]]:
    """(implementation name, version) of the board's interpreter (one raw-REPL exec)."""
    return parse_board_version(transport.exec(VERSION_QUERY).decode(errors="replace"))


def deploy_files(transport: SerialTransport, files: Sequence[BoardFile]) -> DeployReport:
    """Copy the changed files to the board (the transport must be in the raw REPL), after
    checking that its MicroPython can run them."""
    check_board_version(*board_version(transport))
    report = DeployReport()
    on_board = board_hashes(transport, [f.name for f in files])
    changed = {f.name for f in changed_files(files, on_board)}
    for file in files:
        if file.name in changed:
            write_atomically(transport, file)
            report.written.append(file.name)
        else:
            report.unchanged.append(file.name)
    for stale in existing_files(transport, shadowing_sources(files)):
        transport.exec(f"import os\nos.remove({stale!r})")
        report.removed.append(stale)
    return report


def deploy(
    transport: SerialTransport,
    board: str,
    extra_files: Mapping[str, bytes] | None = None,
    out_dir: Path = BUILD_DIR,
) -> DeployReport:
    """Build the firmware for `board` and deploy it with `extra_files` (name → content).

    Interrupts the running firmware; it stays stopped at the REPL until the board is reset.
    """
    files = build_firmware(board, out_dir=out_dir)
    files += [BoardFile(name, data) for name, data in (extra_files or {}).items()]
    with raw_repl(transport):
        return deploy_files(transport, files)
