"""`buttonrig board …` argument handling that needs no board."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from rig.cli import main


def test_flash_dry_run_prints_the_esptool_steps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "firmware.bin"
    image.write_bytes(bytes([0xE9, 3, 2, 0x20]) + bytes(8) + struct.pack("<H", 9) + bytes(100))
    port = tmp_path / "ttyACM0"
    port.write_text("")
    argv = ["--home", str(tmp_path / "h"), "board", "flash", "--dry-run"]
    assert main([*argv, "--port", str(port), "--image", str(image)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"esptool --chip esp32s3 --port {port} --baud 460800 erase-flash",
        f"esptool --chip esp32s3 --port {port} --baud 460800 write-flash -z 0x0 {image}",
    ]


def test_user_errors_are_one_line_with_status_255(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = ["--home", str(tmp_path / "h")]
    assert main([*home, "board", "flash", "--image", str(tmp_path / "no.bin")]) == 255
    assert (
        capsys.readouterr().err.strip() == f"buttonrig: image {tmp_path / 'no.bin'} does not exist"
    )
    assert main([*home, "board", "provision", "--port", "loop://", "--ssid", "lab"]) == 255
    assert "--ssid needs --endpoint" in capsys.readouterr().err
    assert main([*home, "board", "provision", "--port", "loop://", "--cert", "c.pem"]) == 255
    assert "--cert needs --key and --ca" in capsys.readouterr().err
