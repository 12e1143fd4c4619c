"""host/flash.py: what esptool is asked to do, and the refusals, decided before any port is opened."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from host.flash import FlashError, FlashPlan, chip_of_image, flash, plan_flash


def esp_image(path: Path, chip_id: int) -> Path:
    """The first 24 bytes of an ESP image: header (magic, segments, mode, size/freq, entry) and
    the extended header whose bytes 12-13 name the chip."""
    header = bytes([0xE9, 3, 2, 0x20]) + struct.pack("<I", 0x40080000)
    extended = bytes([0xEE, 0, 0, 0]) + struct.pack("<H", chip_id) + bytes(10)
    path.write_bytes(header + extended + bytes(1000))
    return path


@pytest.fixture
def port(tmp_path: Path) -> str:
    device = tmp_path / "ttyUSB0"
    device.write_text("")  # stands in for the device node: only its existence is checked
    return str(device)


@pytest.mark.parametrize(
    ("chip_id", "chip", "offset"), [(0, "esp32", 0x1000), (9, "esp32s3", 0x0)]
)
def test_the_image_goes_at_its_chips_bootloader_offset(
    tmp_path: Path, port: str, chip_id: int, chip: str, offset: int
) -> None:
    image = esp_image(tmp_path / "firmware.bin", chip_id)
    plan = plan_flash(image, port=port, baud=921600)
    assert plan == FlashPlan(
        port=port, chip=chip, image=image, offset=offset, baud=921600, erase=True
    )
    erase, write = plan.esptool_commands()
    assert erase[-1] == "erase-flash"
    assert write[-4:] == ["write-flash", "-z", hex(offset), str(image)]
    assert write[1:7] == ["--chip", chip, "--port", port, "--baud", "921600"]


def test_no_erase_means_one_step(tmp_path: Path, port: str) -> None:
    plan = plan_flash(esp_image(tmp_path / "f.bin", 0), port=port, erase=False)
    assert [cmd[-4] for cmd in plan.esptool_commands()] == ["write-flash"]


def test_a_missing_image_is_named(tmp_path: Path, port: str) -> None:
    with pytest.raises(FlashError, match=r"nope\.bin does not exist"):
        plan_flash(tmp_path / "nope.bin", port=port)


def test_a_file_that_is_not_an_esp_image_shows_what_it_starts_with(
    tmp_path: Path, port: str
) -> None:
    uf2 = tmp_path / "firmware.uf2"
    uf2.write_bytes(b"UF2\n" + bytes(100))
    with pytest.raises(FlashError, match=r"first byte is 55, expected 0xe9"):
        plan_flash(uf2, port=port)


def test_an_image_for_another_chip_is_refused(tmp_path: Path, port: str) -> None:
    image = esp_image(tmp_path / "s3.bin", 9)
    assert chip_of_image(image) == "esp32s3"
    with pytest.raises(FlashError, match=r"built for esp32s3, not for esp32"):
        plan_flash(image, port=port, chip="esp32")


def test_a_missing_port_is_named(tmp_path: Path) -> None:
    with pytest.raises(FlashError, match=r"serial port /nonexistent/ttyUSB9 does not exist"):
        plan_flash(esp_image(tmp_path / "f.bin", 0), port="/nonexistent/ttyUSB9")


def test_without_a_port_exactly_one_board_must_be_found(tmp_path: Path) -> None:
    image = esp_image(tmp_path / "f.bin", 0)
    with pytest.raises(FlashError, match="no serial port given and no ESP32 USB bridge found"):
        plan_flash(image, discover=list)
    with pytest.raises(FlashError, match=r"several boards found \(/dev/ttyUSB0, /dev/ttyACM0\)"):
        plan_flash(image, discover=lambda: ["/dev/ttyUSB0", "/dev/ttyACM0"])
    assert plan_flash(image, discover=lambda: ["/dev/ttyUSB0"]).port == "/dev/ttyUSB0"


def test_a_url_port_is_not_checked_on_the_filesystem(tmp_path: Path) -> None:
    plan = plan_flash(esp_image(tmp_path / "f.bin", 0), port="rfc2217://lab-host:4000")
    assert plan.port == "rfc2217://lab-host:4000"


def test_a_port_nobody_answers_on_is_a_clear_error(tmp_path: Path) -> None:
    plan = plan_flash(esp_image(tmp_path / "f.bin", 0), port="socket://127.0.0.1:1")
    with pytest.raises(
        FlashError, match=r"cannot talk to the ROM bootloader on socket://127\.0\.0\.1:1"
    ):
        flash(plan, log=lambda _: None)
