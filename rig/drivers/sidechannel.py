"""The rig's end of an emulated board's side channel (docs/contracts.md "Side channel").

One TCP listener per board on loopback; each board process connects once (at the first import of
the `_rig` shim), so connections come and go with resets. Messages are newline-delimited JSON
objects with an `op`. Incoming messages go to a callback (in the reader thread) and to a trace.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

Message = dict[str, Any]


class SideChannelError(RuntimeError):
    """The board process is not connected, or the connection broke."""


def encode(msg: Message) -> bytes:
    """One message on the wire: compact JSON and a newline."""
    if not isinstance(msg.get("op"), str):
        raise ValueError(f"a side-channel message needs a string 'op': {msg!r}")
    return json.dumps(msg, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> Message:
    """Parse one line; raises ValueError naming the line when it is not a message."""
    try:
        msg = json.loads(line)
    except ValueError as exc:
        raise ValueError(f"not JSON on the side channel: {line[:200]!r}") from exc
    if not isinstance(msg, dict) or not isinstance(msg.get("op"), str):
        raise ValueError(f"side-channel message without 'op': {line[:200]!r}")
    return msg


class _Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.hello = threading.Event()
        self.closed = threading.Event()
        self.pid: int | None = None
        self.send_lock = threading.Lock()


class SideChannel:
    """Listener plus the current connection of one board.

    `on_message(msg)` runs in the reader thread for every message from the board; keep it short.
    """

    def __init__(self, on_message: Callable[[Message], None] | None = None) -> None:
        self._on_message = on_message
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Condition()
        self._current: _Connection | None = None
        self._open: set[_Connection] = set()
        self._closing = False
        self.protocol_errors: list[str] = []
        threading.Thread(
            target=self._accept_loop, name=f"sidechannel-{self.port}", daemon=True
        ).start()

    @property
    def address(self) -> str:
        """What the board process gets in BUTTONRIG_CHANNEL."""
        return f"127.0.0.1:{self.port}"

    def _accept_loop(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return  # listener closed
            conn = _Connection(sock)
            with self._lock:
                if self._closing:
                    sock.close()
                    return
                self._open.add(conn)
            threading.Thread(target=self._read_loop, args=(conn,), daemon=True).start()

    def _read_loop(self, conn: _Connection) -> None:
        reader = conn.sock.makefile("rb")
        try:
            for line in reader:
                try:
                    msg = decode(line)
                except ValueError as exc:
                    self.protocol_errors.append(str(exc))
                    continue
                if self._on_message is not None:
                    try:
                        self._on_message(msg)
                    except Exception as exc:  # a handler's bug must not cut the board off
                        self.protocol_errors.append(f"handler failed on {msg['op']!r}: {exc!r}")
                if msg["op"] == "hello":  # connected once its hello has been handled
                    conn.pid = msg.get("pid")
                    with self._lock:
                        self._current = conn
                        conn.hello.set()
                        self._lock.notify_all()
        except OSError:
            pass
        finally:
            reader.close()
            conn.sock.close()
            with self._lock:
                self._open.discard(conn)
                if self._current is conn:
                    self._current = None
                conn.closed.set()
                self._lock.notify_all()

    def connected(self) -> bool:
        with self._lock:
            return self._current is not None

    def wait_connected(self, timeout: float) -> None:
        """Wait until a board process has said hello."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._current is None:
                left = deadline - time.monotonic()
                if left <= 0 or self._closing:
                    raise SideChannelError(
                        f"no board process connected to the side channel {self.address} "
                        f"within {timeout:.1f} s"
                    )
                self._lock.wait(left)

    def wait_all_closed(self, timeout: float) -> bool:
        """Wait until every connection has hit EOF (all its messages handled)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._open:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def send(self, msg: Message, timeout: float = 10.0) -> None:
        """Send to the current board process, waiting up to `timeout` for it to connect."""
        data = encode(msg)
        self.wait_connected(timeout)
        with self._lock:
            conn = self._current
        if conn is None:
            raise SideChannelError(f"board process disconnected before {msg['op']!r} was sent")
        with conn.send_lock:
            try:
                conn.sock.sendall(data)
            except OSError as exc:
                raise SideChannelError(f"side channel broke while sending {msg['op']!r}") from exc

    def close(self) -> None:
        with self._lock:
            self._closing = True
            conns = list(self._open)
            self._lock.notify_all()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self._listener.close()
        for conn in conns:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
