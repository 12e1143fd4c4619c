"""Flash a MicroPython ESP32 image the user supplies, with esptool's Python API.

The image is MicroPython's combined `firmware.bin` (bootloader + partition table + app); it goes
at the chip's bootloader offset, which esptool knows per chip (0x1000 on the ESP32 and ESP32-S2,
0x0 on the ESP32-S3/C3/C6). The image header names the chip it was built for, so a wrong image is
refused before the board is touched, and the chip detected on the port is checked against it.

esptool talks to the ROM bootloader; an emulated board has none, so flashing is for physical
boards only (docs/physical-boards.md).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from esptool.targets import CHIP_DEFS

from host.ports import find_board_ports

IMAGE_MAGIC = 0xE9  # first byte of every ESP bootloader / app image
CHIP_ID_OFFSET = 12  # uint16 LE in the extended header that follows the 8-byte image header
DEFAULT_BAUD = 460800  # the MicroPython download page's recommendation
ROM_BAUD = 115200  # the ROM bootloader syncs at this rate; esptool switches after the stub runs
SUPPORTED_CHIPS = tuple(name for name in CHIP_DEFS if name.startswith("esp32"))


class FlashError(Exception):
    """Flashing cannot go ahead or failed; the message says what was found instead."""


@dataclass(frozen=True)
class FlashPlan:
    """Everything esptool is asked to do, decided before the port is opened."""

    port: str
    chip: str  # esptool's chip name, e.g. "esp32", "esp32s3"
    image: Path
    offset: int
    baud: int
    erase: bool

    def esptool_commands(self) -> list[list[str]]:
        """The same steps as esptool command lines (shown to the user; handy for bug reports)."""
        common = ["esptool", "--chip", self.chip, "--port", self.port, "--baud", str(self.baud)]
        steps = [[*common, "erase-flash"]] if self.erase else []
        steps.append([*common, "write-flash", "-z", hex(self.offset), str(self.image)])
        return steps


def chip_of_image(image: Path) -> str:
    """The esptool chip name an ESP32-family image was built for, from its header."""
    try:
        header = image.read_bytes()[:24]
    except FileNotFoundError:
        raise FlashError(f"image {image} does not exist") from None
    except IsADirectoryError:
        raise FlashError(f"image {image} is a directory, not a firmware .bin") from None
    if len(header) < 24 or header[0] != IMAGE_MAGIC:
        first = header[:1].hex() or "nothing (empty file)"
        raise FlashError(
            f"{image} is not an ESP firmware image: first byte is {first}, expected 0xe9 "
            "(use MicroPython's combined firmware.bin, not a .uf2/.elf/.hex)"
        )
    (chip_id,) = struct.unpack_from("<H", header, CHIP_ID_OFFSET)
    for name in SUPPORTED_CHIPS:
        if CHIP_DEFS[name].IMAGE_CHIP_ID == chip_id:
            return name
    raise FlashError(f"{image} is built for an unknown chip (image chip id {chip_id})")


def bootloader_offset(chip: str) -> int:
    """Where MicroPython's combined image goes on this chip."""
    return CHIP_DEFS[chip].BOOTLOADER_FLASH_OFFSET


def is_url(port: str) -> bool:
    return "://" in port


def plan_flash(
    image: Path,
    port: str | None = None,
    chip: str = "auto",
    baud: int = DEFAULT_BAUD,
    erase: bool = True,
    offset: int | None = None,
    discover: Callable[[], Sequence[str]] | None = None,
) -> FlashPlan:
    """Check the arguments and decide what to do; FlashError explains a refusal."""
    built_for = chip_of_image(image)
    if chip != "auto":
        if chip not in SUPPORTED_CHIPS:
            raise FlashError(f"unknown chip {chip!r}; one of: {', '.join(SUPPORTED_CHIPS)}")
        if chip != built_for:
            raise FlashError(f"{image} is built for {built_for}, not for {chip}")
    if port is None:
        candidates = list(discover() if discover else [p.device for p in find_board_ports()])
        if not candidates:
            raise FlashError(
                "no serial port given and no ESP32 USB bridge found "
                "(plug the board in, or pass --port; `buttonrig board list` shows ports)"
            )
        if len(candidates) > 1:
            raise FlashError(f"several boards found ({', '.join(candidates)}); pass --port")
        port = candidates[0]
    elif not is_url(port) and not os.path.exists(port):
        raise FlashError(f"serial port {port} does not exist")
    if baud <= 0:
        raise FlashError(f"baud must be positive, got {baud}")
    return FlashPlan(
        port=port,
        chip=built_for,
        image=image,
        offset=bootloader_offset(built_for) if offset is None else offset,
        baud=baud,
        erase=erase,
    )


def flash(plan: FlashPlan, log: Callable[[str], None] = print) -> None:
    """Run the plan with esptool: connect and check the chip, stub, baud, erase, write, reset."""
    from esptool.cmds import (
        attach_flash,
        detect_chip,
        erase_flash,
        reset_chip,
        run_stub,
        write_flash,
    )
    from esptool.util import FatalError

    expected = CHIP_DEFS[plan.chip].CHIP_NAME
    try:
        esp: Any = detect_chip(plan.port, ROM_BAUD)
    except (FatalError, OSError) as exc:
        raise FlashError(f"cannot talk to the ROM bootloader on {plan.port}: {exc}") from exc
    try:
        if esp.CHIP_NAME != expected:
            raise FlashError(
                f"{plan.port} has an {esp.CHIP_NAME}, but {plan.image} is built for {expected}"
            )
        log(f"connected: {esp.CHIP_NAME} on {plan.port}")
        esp = run_stub(esp)
        if plan.baud != ROM_BAUD:
            esp.change_baud(plan.baud)
        attach_flash(esp)
        if plan.erase:
            log("erasing flash")
            erase_flash(esp)
        log(f"writing {plan.image} at {hex(plan.offset)}")
        write_flash(esp, [(plan.offset, str(plan.image))])
        reset_chip(esp, "hard-reset")
    except FatalError as exc:
        raise FlashError(f"esptool failed on {plan.port}: {exc}") from exc
    finally:
        esp._port.close()
