"""rig/drivers/rfc2217_server.py with a real pyserial RFC 2217 client and a recording board:
console bytes both ways, DTR/RTS mapped like a DevKitC's auto-reset circuit."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
import serial

from rig.drivers.rfc2217_server import Rfc2217Server

WAIT_S = 10.0  # generous: CI machines are loaded


class RecordingBoard:
    """Records what the server did to the board; its console echoes upper-cased."""

    def __init__(self) -> None:
        self.actions: list[str] = []
        self.received = bytearray()
        self._sinks: list[Callable[[bytes], None]] = []
        self._cond = threading.Condition()

    def console_write(self, data: bytes) -> None:
        with self._cond:
            self.received += data
        self.emit(data.upper())

    def console_subscribe(self, sink: Callable[[bytes], None]) -> Callable[[], None]:
        self._sinks.append(sink)
        return lambda: self._sinks.remove(sink)

    def emit(self, data: bytes) -> None:
        for sink in list(self._sinks):
            sink(data)

    def set_button(self, pressed: bool) -> None:
        self._record("press" if pressed else "release")

    def hold_reset(self) -> None:
        self._record("reset-hold")

    def release_reset(self) -> None:
        self._record("reset-release")

    def _record(self, action: str) -> None:
        with self._cond:
            self.actions.append(action)
            self._cond.notify_all()

    def wait_actions(self, count: int) -> list[str]:
        with self._cond:
            ok = self._cond.wait_for(lambda: len(self.actions) >= count, timeout=WAIT_S)
            assert ok, f"wanted {count} actions, saw {self.actions}"
            return list(self.actions)


@pytest.fixture
def board() -> RecordingBoard:
    return RecordingBoard()


@pytest.fixture
def server(board: RecordingBoard) -> Iterator[Rfc2217Server]:
    with Rfc2217Server(board) as srv:
        yield srv


def open_port(url: str, **lines: bool) -> serial.Serial:
    port = serial.serial_for_url(url, do_not_open=True, timeout=WAIT_S)
    port.dtr = lines.get("dtr", False)
    port.rts = lines.get("rts", False)
    port.open()
    return port


def test_console_bytes_go_both_ways_including_telnet_iac(
    server: Rfc2217Server, board: RecordingBoard
) -> None:
    assert server.url.startswith("rfc2217://127.0.0.1:")
    port = open_port(server.url)
    try:
        port.write(b"print(1)\r\xff\x03")  # 0xff is the telnet IAC byte: must be escaped
        assert port.read(11) == b"PRINT(1)\r\xff\x03"
        assert bytes(board.received) == b"print(1)\r\xff\x03"
        port.baudrate = 460800  # accepted and ignored
        port.write(b"x")
        assert port.read(1) == b"X"
    finally:
        port.close()


def test_dtr_alone_holds_the_button_and_rts_alone_holds_reset(
    server: Rfc2217Server, board: RecordingBoard
) -> None:
    port = open_port(server.url)
    try:
        port.dtr = True
        assert board.wait_actions(1) == ["press"]
        port.dtr = False
        assert board.wait_actions(2) == ["press", "release"]
        port.rts = True
        assert board.wait_actions(3)[-1] == "reset-hold"
        port.rts = False
        assert board.wait_actions(4)[-1] == "reset-release"
    finally:
        port.close()


def test_opening_and_closing_with_both_lines_asserted_neither_presses_nor_resets(
    server: Rfc2217Server, board: RecordingBoard
) -> None:
    # mpremote opens with DTR and RTS asserted (set one after the other) and closes by dropping
    # RTS, then DTR: the moments in between must not reach the board.
    port = open_port(server.url, dtr=True, rts=True)
    port.write(b"a")
    assert port.read(1) == b"A"
    port.rts = False
    port.dtr = False
    port.close()
    # a press after that is the first thing the board sees
    port = open_port(server.url)
    try:
        port.dtr = True
        assert board.wait_actions(1) == ["press"]
    finally:
        port.close()
    assert board.wait_actions(2) == ["press", "release"]  # closing the port lets go


def test_a_second_client_is_turned_away_while_the_port_is_in_use(server: Rfc2217Server) -> None:
    first = open_port(server.url)
    try:
        with pytest.raises((serial.SerialException, OSError)):  # closed on it at once
            second = serial.serial_for_url(server.url, timeout=1)
            second.close()
        first.write(b"still mine")
        assert first.read(10) == b"STILL MINE"
    finally:
        first.close()
