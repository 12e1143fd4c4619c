"""`buttonrig board …` against an emulated board served over RFC 2217 by `board serve-emulated`,
as a user without hardware would try the physical-board tools; and the monitor's redaction on a
real console."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial
from cert_kit import DER, PEM, issue

from host.monitor import REDACTED, follow
from rig.drivers.emulated import EmulatedBoard
from rig.drivers.rfc2217_server import serve_emulated

pytestmark = pytest.mark.e2e

WAIT_S = 60.0  # generous: a loaded 2-core CI machine
BUTTONRIG = str(Path(sys.executable).with_name("buttonrig"))
MPREMOTE = str(Path(sys.executable).with_name("mpremote"))


def buttonrig(home: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [BUTTONRIG, "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, f"{args}: {result.stderr}"
    return result.stdout + result.stderr


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    home = tmp_path / "home"
    server = subprocess.Popen(
        [BUTTONRIG, "--home", str(home), "board", "serve-emulated"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()  # the first line, once it serves
        if not url.startswith("rfc2217://127.0.0.1:"):
            server.kill()
            assert server.stderr is not None
            pytest.fail(f"serve-emulated printed {url!r}; stderr:\n{server.stderr.read()}")
        yield home, url
    finally:
        server.terminate()
        assert server.wait(WAIT_S) == 0


def test_deploy_then_provision_through_the_command_line(
    served: tuple[Path, str], tmp_path: Path
) -> None:
    home, url = served
    out = buttonrig(home, "board", "deploy", "--port", url, "--profile", "emulated")
    assert "wrote   app.mpy" in out and "removed app.py" in out, out  # .py → .mpy
    again = buttonrig(home, "board", "deploy", "--port", url, "--profile", "emulated")
    assert again.startswith("0 written, "), again  # unchanged files are skipped

    pair = issue("cli-button")
    (tmp_path / "c.pem").write_bytes(pair.cert_bytes(PEM))
    (tmp_path / "k.pem").write_bytes(pair.key_bytes(PEM))
    password = "cli-secret-pass"
    out = buttonrig(
        home,
        "board", "provision", "--port", url,
        "--cert", str(tmp_path / "c.pem"), "--key", str(tmp_path / "k.pem"),
        "--ca", str(tmp_path / "c.pem"),
        "--ssid", "lab", "--endpoint", "broker.example.com:8883", "--serial", "BTN-CLI-1",
        env={"BUTTONRIG_WIFI_PASSWORD": password},
    )  # fmt: skip
    assert "provisioned private key" in out and "serial 'BTN-CLI-1'" in out
    assert password not in out and "PRIVATE KEY" not in out
    flash = home / "served" / "served" / "flash"
    assert (flash / "serial").read_bytes() == b"BTN-CLI-1"
    (key_file,) = flash.rglob("key.der")  # where firmware/certs.py keeps it
    assert key_file.read_bytes() == pair.key_bytes(DER)


def test_the_monitor_redacts_a_key_the_board_prints(tmp_path: Path) -> None:
    pem = issue("mon").key_bytes(PEM)
    body = pem.decode().splitlines()[1]
    emulated = EmulatedBoard(tmp_path / "mon", "mon")
    try:
        emulated.write_file("key.pem", pem)
        emulated.start()  # no firmware: a REPL, where someone types the wrong thing
        with serve_emulated(emulated) as server:
            port = serial.serial_for_url(server.url, timeout=0.2)
            try:
                port.write(b"\r\nprint(open('key.pem').read()); print('done', 6 * 7)\r\n")
                lines: list[str] = []
                deadline = time.monotonic() + WAIT_S
                follow(
                    port,
                    emit=lines.append,
                    stop=lambda: any("done 42" in x for x in lines) or time.monotonic() > deadline,
                )
            finally:
                port.close()
        text = "\n".join(lines)
        assert "done 42" in text, text
        assert f"PRIVATE KEY {REDACTED}" in text, text
        assert body not in text and body[:40] not in text
    finally:
        emulated.close()


def test_the_mip_package_installs_with_mpremote_and_boots(tmp_path: Path) -> None:
    package_dir = tmp_path / "pkg"
    out = buttonrig(
        tmp_path / "home", "board", "package", "--profile", "emulated", "--out", str(package_dir)
    )
    assert "package.json" in out
    emulated = EmulatedBoard(tmp_path / "mip", "mip")
    try:
        emulated.start()  # an empty board: MicroPython only
        with serve_emulated(emulated) as server:
            result = subprocess.run(
                [MPREMOTE, "connect", server.url, "mip", "install", "--target", ".",
                 str(package_dir / "package.json")],
                capture_output=True, text=True, timeout=WAIT_S,
            )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        assert emulated.read_file("app.mpy") == (package_dir / "app.mpy").read_bytes()
        assert emulated.read_file("board.mpy") == (package_dir / "board.mpy").read_bytes()
        emulated.power_cut()
        emulated.start()  # a fresh console: mpremote left the REPL's prompt on the old one
        assert emulated.expect("boot", WAIT_S)["board"] == "emulated"
        emulated.expect("led", WAIT_S)  # the firmware from the package runs
    finally:
        emulated.close()
