"""The config page of a real (emulated) board under what a customer's phone and a hostile client
do at once: a browser's spare connections that never send a byte, slow clients dribbling a
request head and a form body, a flood of connections, while the phone loads the page and submits
the form. (A client dribbling a body holds the one body slot until its deadline: the phone's form
waits for it, so it is submitted once the slow ones were cut off.)

The board answers the phone every time, turns the flood away, times the slow and silent clients
out, and its process never dies (before the shims' poller fix, four connections killed it:
docs/connectivity-integration.md "Known issues").
"""

from __future__ import annotations

import socket
import threading

import pytest
from connectivity_kit import WAIT_S, emulated

from rig import gestures
from rig.drivers.emulated import EmulatedBoard
from rig.pytest_plugin.boards import BoardFactory
from rig.strategies.provisioning import enter_config_mode

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

IDLE = 8  # spare connections a browser (or anyone) opens and leaves silent
FLOOD = 40  # connections opened as fast as possible, each closed by us at once
REQUEST_TIMEOUT_S = 10.0  # the firmware's default per-connection deadline (configap.Portal)
DRIBBLE_S = 0.5


def status(reply: bytes) -> int:
    head = reply.split(b"\r\n", 1)[0].split(b" ")
    assert len(head) >= 2 and head[0] == b"HTTP/1.1", f"not an HTTP answer: {reply[:200]!r}"
    return int(head[1])


def read_all(sock: socket.socket) -> bytes:
    """Everything until the board closes (a reset counts as the end)."""
    chunks: list[bytes] = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


class Slowloris(threading.Thread):
    """Sends `start`, then `drop` every `every` s, never finishing its request."""

    def __init__(self, port: int, start: bytes, drop: bytes, every: float) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port), WAIT_S)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # one packet per drop
        self.start_bytes, self.drop, self.every = start, drop, every
        self.stop = threading.Event()
        self.reply = b""

    def run(self) -> None:
        try:
            self.sock.sendall(self.start_bytes)
            while not self.stop.is_set():
                self.sock.sendall(self.drop)
                self.stop.wait(self.every)
        except OSError:
            pass  # the board hung up on it
        self.stop.set()

    def answer(self, timeout: float) -> bytes:
        self.sock.settimeout(timeout)
        self.reply = read_all(self.sock)
        self.stop.set()
        self.sock.close()
        return self.reply


def alive(board: EmulatedBoard) -> None:
    assert board.state == "running", board.console_text()[-800:]
    assert "ended unexpectedly" not in board.console_text(), board.console_text()[-800:]


def test_idle_slow_and_flooding_clients_never_starve_the_phone_nor_kill_the_board(
    boards: BoardFactory,
) -> None:
    board = emulated(boards)
    page = enter_config_mode(board)
    port = board.ap_port
    idle = [socket.create_connection(("127.0.0.1", port), WAIT_S) for _ in range(IDLE)]
    # a request head one header line at a time; a form body one byte at a time
    slow_head = Slowloris(port, b"GET / HTTP/1.1\r\n", b"X-Drip: aaaaaaaaaa\r\n", DRIBBLE_S)
    slow_body = Slowloris(
        port,
        b"POST /configure HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 16000\r\n\r\nssid=",
        b"a",
        0.01,
    )
    slowloris = [slow_head, slow_body]
    for slow in slowloris:
        slow.start()
    try:
        # The phone, among them: the page is answered, every time.
        for _ in range(3):
            got = page.get()
            assert got.status == 200 and "Button ConfigureMe" in got.body, got
        alive(board)

        # A flood: all open at once, then all ask. A connection is served, answered 503, or
        # closed unanswered (pushed out while still silent); never a dead board.
        flood = [socket.create_connection(("127.0.0.1", port), WAIT_S) for _ in range(FLOOD)]
        try:
            for s in flood:
                try:
                    s.sendall(b"GET / HTTP/1.1\r\n\r\n")
                except OSError:
                    pass  # already closed by the board
            answered = [status(r) for r in map(read_all, flood) if r]
        finally:
            for s in flood:
                s.close()
        assert answered and set(answered) <= {200, 503}, answered
        assert page.get().status == 200
        alive(board)

        # Both slow clients are cut off at their deadline with 408; the silent ones are closed.
        for slow in slowloris:
            reply = slow.answer(REQUEST_TIMEOUT_S + WAIT_S)
            assert status(reply) == 408, reply[:200]
        # The phone's form (refused: a short password) is answered.
        refused = page.submit({"ssid": "home", "password": "short"})
        assert refused.status == 400 and "password" in refused.errors(), refused
        for s in idle:
            s.settimeout(WAIT_S)
            assert read_all(s) == b"", "a silent connection got an answer instead of a close"
    finally:
        for slow in slowloris:
            slow.stop.set()
        for s in idle:
            s.close()

    # Still in config mode, still serving, still detecting clicks; config mode opened once.
    alive(board)
    assert page.get().status == 200
    board.press(gestures.single(120))
    assert board.expect("click", WAIT_S)["type"] == "SINGLE"
    assert [e["state"] for e in board.events("config")] == ["open", "refused"]
    assert not (board.flash / "netcfg.json").exists()
