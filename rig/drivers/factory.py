"""`--board SPEC` → a `Board`: the one place that knows which driver a spec means.

| spec | board |
|---|---|
| `emulated` | `EmulatedBoard`: the firmware on the unix port, driven through the shims |
| `emulated-rfc2217` | an emulated board served over RFC 2217 and driven by `SerialBoard`: the physical-board driver, exercised in CI |
| `/dev/ttyUSB0`, `COM3` | `SerialBoard` on a USB serial port |
| `rfc2217://host:port`, `socket://host:port` | `SerialBoard` on a network serial port (ser2net, labgrid exporter, our RFC 2217 server) |
"""

from __future__ import annotations

from pathlib import Path

from rig.drivers.base import Board
from rig.drivers.emulated import EmulatedBoard
from rig.drivers.rfc2217_server import Rfc2217Server, serve_emulated
from rig.drivers.serial import SerialBoard

EMULATED = "emulated"
EMULATED_RFC2217 = "emulated-rfc2217"
DEFAULT_PHYSICAL_PROFILE = "esp32-devkitc"
URL_SCHEMES = ("rfc2217://", "socket://", "loop://", "spy://", "alt://", "hwgrep://")


class BoardSpecError(ValueError):
    """A `--board` value that names no known kind of board."""


class EmulatedPower:
    """An emulated board's supply: off = the process killed at once, on = started (cause
    `power`). Its serial port is the rig's RFC 2217 server, which stays up meanwhile, as a
    bridge powered apart from the chip does."""

    def __init__(self, board: EmulatedBoard) -> None:
        self._board = board

    def off(self) -> None:
        self._board.power_cut()

    def on(self) -> None:
        self._board.start()


class ServedEmulatedBoard(SerialBoard):
    """`SerialBoard` on an emulated board's RFC 2217 port; closing it stops both.

    The emulated board is powered from the start, as a board plugged into USB is: its REPL
    answers (deploy works) before the firmware is started with `start()`.
    """

    def __init__(self, emulated: EmulatedBoard, server: Rfc2217Server, name: str) -> None:
        self.emulated = emulated
        self.server = server
        emulated.start()
        # The server gives the emulated board a DevKitC's lines, whatever its profile says.
        super().__init__(
            server.url,
            emulated.profile_dir,
            name=name,
            rig_press="dtr",
            rig_reset="rts",
            power=EmulatedPower(emulated),
        )

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.server.stop()
            self.emulated.close()


def is_serial_spec(spec: str) -> bool:
    return (
        spec.startswith(URL_SCHEMES) or spec.startswith("/dev/") or spec.upper().startswith("COM")
    )


def open_board(spec: str, workdir: Path, name: str = "board", profile: str | None = None) -> Board:
    """The board `spec` names. `workdir` holds an emulated board's flash and logs; `profile`
    (a folder under boards/) is what a physical board is (default: esp32-devkitc)."""
    if spec == EMULATED:
        return EmulatedBoard(workdir / name, name)
    if spec == EMULATED_RFC2217:
        emulated = EmulatedBoard(workdir / name, name)
        try:
            server = serve_emulated(emulated)
            return ServedEmulatedBoard(emulated, server, name)
        except BaseException:
            emulated.close()
            raise
    if is_serial_spec(spec):
        workdir.mkdir(parents=True, exist_ok=True)
        return SerialBoard(
            spec,
            profile or DEFAULT_PHYSICAL_PROFILE,
            name=name,
            log_path=workdir / f"{name}.console.log",
        )
    raise BoardSpecError(
        f"unknown board {spec!r}: use {EMULATED!r}, {EMULATED_RFC2217!r}, a device path "
        "(/dev/ttyUSB0) or a pyserial URL (rfc2217://host:port, socket://host:port)"
    )
