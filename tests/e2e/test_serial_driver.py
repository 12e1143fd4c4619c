"""The physical-board driver (SerialBoard) on an emulated board served over RFC 2217: the real
firmware on the unix port, pressed through DTR and reset through RTS like a DevKitC on USB."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cert_kit import PEM, issue

from host.deploy import deploy
from host.provision import NetworkConfig, identity_from_bytes, provision
from host.transport import open_transport
from rig.drivers.emulated import EmulatedBoard
from rig.drivers.factory import EMULATED_RFC2217, ServedEmulatedBoard, open_board
from rig.drivers.rfc2217_server import serve_emulated
from rig.drivers.serial import SerialBoard

pytestmark = pytest.mark.e2e

WAIT_S = 30.0  # generous: a loaded 2-core CI machine
MPREMOTE = str(Path(sys.executable).with_name("mpremote"))


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedEmulatedBoard]:
    workdir = tmp_path_factory.mktemp("serial-driver")
    served = open_board(EMULATED_RFC2217, workdir, "served")
    assert isinstance(served, ServedEmulatedBoard)
    try:
        served.deploy()
        yield served
    finally:
        served.close()


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"not within {WAIT_S} s: {what}"
        time.sleep(0.01)


def on_board_paths(board: ServedEmulatedBoard) -> tuple[str, str, str, str]:
    """Where the firmware keeps certificate, key, CA and network config: its modules say."""
    with board.raw_repl() as transport:
        transport.exec("import certs, netcfg")
        cert, key, ca, netcfg = transport.eval("(certs.CERT, certs.KEY, certs.CA, netcfg.PATH)")
        return str(cert), str(key), str(ca), str(netcfg)


def boot(board: SerialBoard) -> None:
    """Reset through RTS and wait until the firmware has its button armed (the `led` event comes
    after the button's IRQ is set up)."""
    board.console.skip_to_end()
    board.reset()
    board.expect("boot", WAIT_S, reset="hard", board="emulated")
    board.expect("led", WAIT_S)


def test_start_power_cycles_a_board_with_a_power_switch(board: ServedEmulatedBoard) -> None:
    board.start()
    assert board.expect("boot", WAIT_S)["reset"] == "power"
    board.power_cut()
    assert board.emulated.state == "off"
    board.start()
    assert board.expect("boot", WAIT_S)["reset"] == "power"


def test_without_a_power_switch_power_cut_holds_en_low(tmp_path: Path) -> None:
    emulated = EmulatedBoard(tmp_path / "en", "en")
    try:
        emulated.deploy()
        emulated.start()
        with (
            serve_emulated(emulated) as server,
            SerialBoard(server.url, "emulated", rig_press="dtr", rig_reset="rts") as bare,
        ):
            bare.start()  # a reset pulse
            assert bare.expect("boot", WAIT_S)["reset"] == "hard"
            bare.power_cut()
            wait_for(lambda: emulated.state == "off", "EN held low stops the board")
            bare.start()
            assert bare.expect("boot", WAIT_S)["reset"] == "hard"
    finally:
        emulated.close()


def test_rts_reset_boots_the_firmware_with_reset_cause_hard(board: ServedEmulatedBoard) -> None:
    boot(board)
    mark = board.console.mark()
    board.reset()
    event = board.expect("boot", WAIT_S)
    assert event["reset"] == "hard", board.console.events_since(mark)
    assert len(board.console.events_since(mark, "boot")) == 1


@pytest.mark.parametrize(
    ("gesture", "click"),
    [
        ([(0, True), (150, False)], "SINGLE"),
        ([(0, True), (120, False), (150, True), (120, False)], "DOUBLE"),
    ],
)
def test_pressing_through_dtr_gives_the_right_click(
    board: ServedEmulatedBoard, gesture: list[tuple[int, bool]], click: str
) -> None:
    boot(board)
    board.press(gesture)
    event = board.expect("click", WAIT_S)
    assert event["type"] == click, board.events()
    assert event["n"] == 1


def test_deploy_over_rfc2217_writes_only_what_changed(board: ServedEmulatedBoard) -> None:
    board.deploy()  # the firmware as it is now in the tree
    first = board.deploy_report({"serial": b"BTN-RFC-0001"})
    assert first.written == ["serial"], first.summary()
    again = board.deploy_report({"serial": b"BTN-RFC-0001"})
    assert again.written == [] and "serial" in again.unchanged, again.summary()
    assert board.read_file("serial") == b"BTN-RFC-0001"
    assert board.emulated.read_file("serial") == b"BTN-RFC-0001"  # really on the board's flash
    assert board.emulated.read_file("app.mpy")[:1] == b"M"  # bytecode was deployed


def test_the_port_can_be_lent_to_mpremote_and_taken_back(board: ServedEmulatedBoard) -> None:
    with board.port_released() as url:
        result = subprocess.run(
            [MPREMOTE, "connect", url, "exec", "print('lent', 6 * 7)"],
            capture_output=True,
            text=True,
            timeout=WAIT_S * 2,
        )
    assert result.returncode == 0, result.stderr
    assert "lent 42" in result.stdout, result.stdout
    boot(board)  # the driver has its port back: reset and console work again


def test_mpremote_connects_to_the_rfc2217_port(tmp_path: Path) -> None:
    emulated = EmulatedBoard(tmp_path / "mpr", "mpr")
    try:
        emulated.start()  # no firmware: the REPL answers, as on a freshly flashed board
        with serve_emulated(emulated) as server:
            result = subprocess.run(
                [
                    MPREMOTE,
                    "connect",
                    server.url,
                    "exec",
                    "import sys; print(sys.platform, 6 * 7)",
                ],
                capture_output=True,
                text=True,
                timeout=WAIT_S * 2,
            )
        assert result.returncode == 0, result.stderr
        assert "linux 42" in result.stdout, result.stdout
    finally:
        emulated.close()


def test_provision_goes_through_the_firmwares_own_store(
    board: ServedEmulatedBoard, capsys: pytest.CaptureFixture[str]
) -> None:
    pair = issue("button-serial")
    identity = identity_from_bytes(
        pair.cert_bytes(PEM), pair.key_bytes(PEM), pair.cert_bytes(PEM), ("c", "k", "ca")
    )
    password = "correct-horse-battery"
    network = NetworkConfig("lab-wifi", password, "broker.example.com", 8883)
    with board.transport() as transport:
        written = provision(transport, identity, network, serial_label="BTN-0042")
    assert "serial 'BTN-0042'" in written

    flash = board.emulated
    cert_path, key_path, ca_path, netcfg_path = on_board_paths(board)
    assert flash.read_file(key_path) == identity.private_key_der
    assert flash.read_file(cert_path) == identity.certificate_der
    assert flash.read_file(ca_path) == identity.ca_der
    assert json.loads(flash.read_file(netcfg_path)) == {
        "ssid": "lab-wifi",
        "password": password,
        "host": "broker.example.com",
        "port": 8883,
    }
    assert flash.read_file("serial") == b"BTN-0042"

    # The firmware reads it back as its identity after a reset; nothing secret was shown.
    boot(board)
    shown = capsys.readouterr().out + board.console_text()
    assert password not in shown
    assert identity.private_key_der.hex() not in shown
    assert base64.b64encode(identity.private_key_der).decode()[:40] not in shown


def test_deploy_over_the_emulated_boards_pty(tmp_path: Path) -> None:
    emulated = EmulatedBoard(tmp_path / "pty", "pty")
    try:
        emulated.start()  # an empty board: MicroPython only
        transport = open_transport(str(emulated.tty))
        try:
            report = deploy(
                transport, "emulated", {"serial": b"BTN-PTY"}, out_dir=tmp_path / "mpy"
            )
        finally:
            transport.close()
        assert "app.mpy" in report.written and "serial" in report.written, report.summary()
        assert emulated.read_file("serial") == b"BTN-PTY"
        assert emulated.read_file("app.mpy") == (tmp_path / "mpy" / "app.mpy").read_bytes()
    finally:
        emulated.close()
