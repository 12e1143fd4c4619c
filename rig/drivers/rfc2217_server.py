"""Serve an emulated board as an RFC 2217 serial port, so it looks like a USB board on a network.

pyserial's `rfc2217.PortManager` speaks the protocol; this module gives it a port whose DTR and RTS
drive the board the way a DevKitC's auto-reset circuit does (docs/architecture.md decision 5):

| DTR      | RTS      | board                              |
|----------|----------|------------------------------------|
| asserted | released | GPIO0 low: the button is held      |
| released | asserted | EN low: held in reset (not running) |
| equal    | equal    | running, button released           |

Leaving reset boots the firmware with reset cause `hard`. Baud rate and framing changes are
accepted and ignored (the console is a pty). One client at a time, like a real port (a second one
is disconnected at once); when it disconnects both lines fall back to released, as when a USB port
is closed.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from serial import rfc2217

if TYPE_CHECKING:
    from rig.drivers.emulated import EmulatedBoard

log = logging.getLogger(__name__)

# A client that rests with both lines asserted (mpremote, miniterm) leaves that state one line at a
# time, about 50 ms apart (pyserial waits for each change to be acknowledged); the state in
# between would press the button or reset the board. So a state reached from "both asserted" only
# counts once it has held this long; on a real board the gap is microseconds and does nothing.
SETTLE_FROM_BOTH_S = 0.5  # pyserial needs about 50 ms; a loaded CI machine much more


class ServedBoard(Protocol):
    """What the server needs from a board: its console both ways, its button and its reset."""

    def console_write(self, data: bytes) -> None: ...

    def console_subscribe(self, sink: Callable[[bytes], None]) -> Callable[[], None]:
        """Call `sink` with every chunk of console output from now on; returns an unsubscribe."""
        ...

    def set_button(self, pressed: bool) -> None: ...

    def hold_reset(self) -> None:
        """EN low: stop the board now (it stays stopped until `release_reset`)."""
        ...

    def release_reset(self) -> None:
        """EN high again: boot the firmware with reset cause `hard`."""
        ...


@dataclass(frozen=True)
class LineState:
    """The board-side meaning of a pair of control lines (True = asserted)."""

    dtr: bool
    rts: bool

    @property
    def button_pressed(self) -> bool:
        return self.dtr and not self.rts

    @property
    def in_reset(self) -> bool:
        return self.rts and not self.dtr


RELEASED = LineState(dtr=False, rts=False)
BOTH = LineState(dtr=True, rts=True)


class AutoResetCircuit:
    """DTR/RTS in, button and reset out. Thread-safe.

    A client opening the port sets DTR, then RTS (pyserial always sends both): nothing reaches the
    board until both have been set, so the state between the two never does.
    """

    def __init__(self, board: ServedBoard, settle_s: float = SETTLE_FROM_BOTH_S) -> None:
        self._board = board
        self._settle_s = settle_s
        self._cond = threading.Condition()
        self._wanted = RELEASED
        self._apply_at = 0.0
        self._applied = RELEASED
        self._unset: set[str] = set()  # lines a newly connected client has not set yet
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="rfc2217-lines", daemon=True)
        self._thread.start()

    def client_connected(self) -> None:
        with self._cond:
            self._unset = {"dtr", "rts"}

    def set_lines(self, dtr: bool | None = None, rts: bool | None = None) -> None:
        with self._cond:
            before = self._wanted
            self._wanted = LineState(
                dtr=before.dtr if dtr is None else dtr,
                rts=before.rts if rts is None else rts,
            )
            self._unset -= {
                name for name, value in (("dtr", dtr), ("rts", rts)) if value is not None
            }
            from_both = before == BOTH and self._wanted != BOTH
            self._apply_at = time.monotonic() + (self._settle_s if from_both else 0.0)
            self._cond.notify_all()

    def disconnect(self) -> None:
        """A closed USB port drops both lines at once."""
        with self._cond:
            self._unset = set()
        self.set_lines(dtr=False, rts=False)

    @property
    def lines(self) -> LineState:
        with self._cond:
            return self._wanted

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (self._wanted == self._applied or self._unset):
                    self._cond.wait()
                if self._stopping:
                    return
                left = self._apply_at - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue  # changed again, or settled: look again
                state = self._wanted
            try:
                self._apply(self._applied, state)
            except Exception:  # a board that went away must not kill the line thread
                log.exception("applying %s to the board failed", state)
            self._applied = state

    def _apply(self, old: LineState, new: LineState) -> None:
        if new.in_reset and not old.in_reset:
            self._board.hold_reset()
        if new.button_pressed != old.button_pressed:
            self._board.set_button(new.button_pressed)
        if old.in_reset and not new.in_reset:
            self._board.release_reset()


class CircuitPort:
    """The 'serial port' PortManager configures: line settings are kept (and ignored), DTR/RTS go
    to the circuit, the modem-status inputs read as inactive."""

    cts = dsr = ri = cd = False

    def __init__(self, circuit: AutoResetCircuit) -> None:
        self._circuit = circuit
        self.baudrate = 115200
        self.bytesize = 8
        self.parity = "N"
        self.stopbits = 1
        self.xonxoff = False
        self.rtscts = False
        self.break_condition = False

    @property
    def dtr(self) -> bool:
        return self._circuit.lines.dtr

    @dtr.setter
    def dtr(self, asserted: bool) -> None:
        self._circuit.set_lines(dtr=asserted)

    @property
    def rts(self) -> bool:
        return self._circuit.lines.rts

    @rts.setter
    def rts(self, asserted: bool) -> None:
        self._circuit.set_lines(rts=asserted)

    def reset_input_buffer(self) -> None:
        """Nothing is buffered on this side: console bytes go straight to the client."""

    def reset_output_buffer(self) -> None:
        """Nothing is buffered on this side: client bytes go straight to the console."""


class _ClientConnection:
    """The `connection` PortManager writes telnet answers to; console output shares the socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        with self._lock:
            self._sock.sendall(data)


class Rfc2217Server:
    """One board on one loopback TCP port (`url`), until `stop()`."""

    def __init__(self, board: ServedBoard, host: str = "127.0.0.1", port: int = 0) -> None:
        self._board = board
        self._listener = socket.create_server((host, port))
        self._listener.settimeout(0.2)  # lets the accept loop notice stop()
        self.host, self.port = self._listener.getsockname()[:2]
        self._circuit = AutoResetCircuit(board)
        self._stopping = threading.Event()
        self._client: socket.socket | None = None
        self._client_lock = threading.Lock()
        self._client_thread: threading.Thread | None = None
        self._to_client: Callable[[bytes], None] | None = None  # the connected client's sink
        self._unsubscribe = board.console_subscribe(self._console_output)
        self._thread = threading.Thread(target=self._serve, name="rfc2217-accept", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"rfc2217://{self.host}:{self.port}"

    def stop(self) -> None:
        self._stopping.set()
        self._listener.close()
        with self._client_lock:
            if self._client is not None:
                _shutdown(self._client)
        self._thread.join(timeout=5)
        if self._client_thread is not None:
            self._client_thread.join(timeout=5)
        self._unsubscribe()
        self._circuit.stop()

    def _console_output(self, data: bytes) -> None:
        sink = self._to_client
        if sink is not None:  # nobody connected: dropped, as by a USB bridge with the port closed
            sink(data)

    def __enter__(self) -> Rfc2217Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # listener closed by stop()
            with self._client_lock:
                busy = self._client is not None
                if not busy:
                    self._client = sock
            if busy:  # a USB port is exclusive: a second client is turned away, not queued
                log.warning("refused %s: the port is in use", peer)
                _shutdown(sock)
                sock.close()
                continue
            self._client_thread = threading.Thread(
                target=self._serve_connected, args=(sock, peer), name="rfc2217-client", daemon=True
            )
            self._client_thread.start()

    def _serve_connected(self, sock: socket.socket, peer: object) -> None:
        log.info("client %s connected", peer)
        self._circuit.client_connected()
        try:
            self._serve_client(sock)
        finally:
            with self._client_lock:
                self._client = None
            sock.close()
            self._circuit.disconnect()
            log.info("client %s disconnected", peer)

    def _serve_client(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(None)
        connection = _ClientConnection(sock)
        # PortManager duck-types both (the stubs say Serial): it needs the attributes CircuitPort has
        # and a `write` on the connection.
        port: Any = CircuitPort(self._circuit)
        manager = rfc2217.PortManager(port, cast(Any, connection))

        def to_client(data: bytes) -> None:
            try:
                connection.write(b"".join(manager.escape(data)))
            except OSError:
                pass  # the client went away; the reading side notices and cleans up

        self._to_client = to_client
        try:
            while not self._stopping.is_set():
                try:
                    data = sock.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                try:  # the answers to telnet options go back on the socket: it may be gone
                    console = b"".join(manager.filter(data))
                except OSError:
                    return
                if console:
                    self._board.console_write(console)
        finally:
            self._to_client = None


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class EmulatedBoardLines:
    """An `EmulatedBoard` as the server sees it: its console proxy's byte streams, its button,
    and reset = the process stopped (EN low) then started again with reset cause `hard`."""

    def __init__(self, board: EmulatedBoard) -> None:
        self._board = board

    def console_write(self, data: bytes) -> None:
        self._board.proxy.write_input(data)

    def console_subscribe(self, sink: Callable[[bytes], None]) -> Callable[[], None]:
        proxy = self._board.proxy
        # Replace the list rather than mutate it: the proxy's thread may be iterating it.
        proxy.sinks = [*proxy.sinks, sink]

        def unsubscribe() -> None:
            proxy.sinks = [s for s in proxy.sinks if s is not sink]

        return unsubscribe

    def set_button(self, pressed: bool) -> None:
        self._board.set_button(pressed)

    def hold_reset(self) -> None:
        self._board.power_cut()  # the process ends at once, like a chip with EN low

    def release_reset(self) -> None:
        self._board.reset()  # boots with reset cause `hard`


def serve_emulated(board: EmulatedBoard, host: str = "127.0.0.1", port: int = 0) -> Rfc2217Server:
    """Serve a (started) emulated board as `rfc2217://host:port`; `stop()` the server when done."""
    return Rfc2217Server(EmulatedBoardLines(board), host, port)
