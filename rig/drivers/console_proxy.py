"""A "USB-serial" pty in front of an emulated board's MicroPython process (feasibility.md §6).

Clients (mpremote, pyserial, an RFC 2217 server) open the pty at `link`; the proxy runs the
board process on a second pty that is its controlling tty (output post-processing and echo off,
ISIG on) and copies bytes both ways. What a board does and the unix port does not:

* Ctrl-C while code runs: the port may have left the tty raw (raw-paste), so 0x03 becomes SIGINT
  to the process group; at a prompt it is passed as a byte (a SIGINT there would kill the port).
* Soft reset: the unix port exits instead; the owner (EmulatedBoard) decides in `on_exit` what
  comes next and can `respawn` the process, re-entering the raw REPL if the client was in it.

Everything the board prints also goes to `sinks` (console log, RFC 2217 server…). Input can come
from the pty or from `write_input` (for servers that do not open the pty).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import pty
import select
import signal
import subprocess
import termios
import threading
import time
import tty
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

CTRL_A = b"\x01"
CTRL_C = b"\x03"
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
FRIENDLY_PROMPT = b">>> "
# Output endings after which the port waits for input (so 0x03 must be a byte, not SIGINT).
PROMPTS = (FRIENDLY_PROMPT, b"... ", b"=== ", b"\r\n>", b"\x04>")
# A second 0x03 soon after a SIGINT, before the board printed anything, is dropped: it could hit
# the port at an idle prompt, where a SIGINT ends the process.
SIGINT_QUIET_S = 0.5
# How long `kill` waits for the I/O thread to pass on a killed process's last output.
DRAIN_TIMEOUT_S = 2.0


class Child:
    """One board process on its own pty."""

    def __init__(self, proc: subprocess.Popen[bytes], master: int, enter_raw: bool) -> None:
        self.proc = proc
        self.master = master
        # Swallow the banner of a respawned REPL until its prompt, then enter the raw REPL.
        self.entering_raw = enter_raw
        self.pending_input = bytearray()
        self.swallowed = bytearray()
        self.reaped_by_owner = False
        self.master_open = True
        # Set by the I/O thread once it has read the last byte the process wrote (pty EOF).
        self.drained = threading.Event()
        # Signals go through a pidfd: a pid reused after the process was reaped is never hit.
        self._pidfd: int | None = os.pidfd_open(proc.pid)
        self._pidfd_lock = threading.Lock()

    def signal(self, sig: int) -> None:
        with self._pidfd_lock:
            if self._pidfd is not None:  # None: reaped, nothing left to signal
                with contextlib.suppress(ProcessLookupError, OSError):
                    signal.pidfd_send_signal(self._pidfd, sig)

    def release(self) -> None:
        """After the process was reaped (idempotent)."""
        with self._pidfd_lock:
            if self._pidfd is not None:
                os.close(self._pidfd)
                self._pidfd = None

    @property
    def pid(self) -> int:
        return self.proc.pid


def _set_nonblocking(fd: int) -> None:
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)


def _board_tty_mode(fd: int) -> None:
    """The board process's tty: no output processing, no echo, signals on (Ctrl-C → SIGINT)."""
    attrs = termios.tcgetattr(fd)
    attrs[1] &= ~termios.OPOST
    attrs[3] &= ~(termios.ECHO | termios.ECHOCTL)
    attrs[3] |= termios.ISIG
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


def _start_board_process() -> None:  # pragma: no cover - runs in the forked child
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    # Ctrl-C before MicroPython has set its own SIGINT handler (it does so to run code: ports/unix
    # unix_mphal.c mp_hal_set_interrupt_char) would kill the CPython process that hosts the unix
    # port while it starts. A chip that is booting just does not act on it: ignored until then
    # (the disposition survives exec, and CPython keeps an ignored SIGINT ignored).
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class ConsoleProxy:
    """Owns the USB-side pty and the board process's pty; one I/O thread copies between them."""

    def __init__(
        self,
        link: Path | None,
        on_exit: Callable[[Child, int], None],
        sinks: Sequence[Callable[[bytes], object]] = (),
    ) -> None:
        self._on_exit = on_exit
        self.sinks: list[Callable[[bytes], object]] = list(sinks)
        self._usb_master, self._usb_slave = pty.openpty()
        tty.setraw(self._usb_slave)  # a serial port: bytes pass untouched
        _set_nonblocking(self._usb_master)
        self.port_name = os.ttyname(self._usb_slave)
        self.link = link
        if link is not None:
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
            link.symlink_to(self.port_name)
        self._lock = threading.RLock()
        self._child: Child | None = None
        self._tail = b""
        self._raw_repl = False
        self._last_sigint = 0.0
        self._wake_r, self._wake_w = os.pipe()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=f"console-{link}", daemon=True)
        self._thread.start()

    # ----- process control (used by the board driver) -----

    def spawn(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        enter_raw: bool = False,
    ) -> Child:
        """Start the board process; `enter_raw` puts a fresh REPL into the raw REPL."""
        master, slave = pty.openpty()
        try:
            _board_tty_mode(slave)
            proc = subprocess.Popen(
                list(argv),
                stdin=slave,
                stdout=slave,
                stderr=slave,
                cwd=cwd,
                env=dict(env),
                start_new_session=True,
                preexec_fn=_start_board_process,
                close_fds=True,
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        _set_nonblocking(master)
        child = Child(proc, master, enter_raw)
        with self._lock:
            self._child = child
            self._tail = b""
        self._wake()
        return child

    def kill(self, child: Child, sig: int = signal.SIGKILL, timeout: float = 10.0) -> int:
        """Kill the board process (power cut / hard reset) and reap it; `on_exit` is not called.

        Returns once the I/O thread has passed on what the process printed before it died, so
        those bytes reach the sinks before anything the owner notes or starts next.
        """
        with self._lock:
            child.reaped_by_owner = True
            wait_for_drain = not self._closed and threading.current_thread() is not self._thread
        child.signal(sig)
        code = child.proc.wait(timeout)
        child.release()
        if wait_for_drain:
            self._wake()
            # A grandchild still holding the pty would delay EOF forever: bounded wait.
            child.drained.wait(DRAIN_TIMEOUT_S)
        return code

    def interrupt(self) -> None:
        """Ctrl-C to the running code (what a 0x03 from the client does)."""
        with self._lock:
            child = self._child
        if child is not None:
            child.signal(signal.SIGINT)

    @property
    def in_raw_repl(self) -> bool:
        """Whether the last prompt the client saw was the raw REPL's."""
        with self._lock:
            return self._raw_repl

    @property
    def at_line_start(self) -> bool:
        """Whether the last byte the board printed ended a line (or nothing was printed)."""
        with self._lock:
            return not self._tail or self._tail.endswith(b"\n")

    @property
    def at_prompt(self) -> bool:
        with self._lock:
            return self._tail.endswith(PROMPTS)

    # ----- byte streams -----

    def write_input(self, data: bytes) -> None:
        """Bytes from the client to the board (as if typed on the USB port)."""
        with self._lock:
            self._to_board(data)

    def announce(self, data: bytes) -> None:
        """Text the "board" prints without a process (e.g. the soft-reboot line)."""
        self._from_board(data)

    # ----- internals -----

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _to_board(self, data: bytes) -> None:
        child = self._child
        if child is None:
            return  # asleep or off: a real chip drops the bytes too
        if child.entering_raw:
            child.pending_input += data
            return
        while data:
            cut = data.find(CTRL_C)
            if cut < 0:
                self._write_child(child, data)
                return
            self._write_child(child, data[:cut])
            if self._tail.endswith(PROMPTS):
                self._write_child(child, CTRL_C)
            elif time.monotonic() - self._last_sigint > SIGINT_QUIET_S:
                child.signal(signal.SIGINT)
                self._last_sigint = time.monotonic()
            data = data[cut + 1 :]

    def _write_child(self, child: Child, data: bytes) -> None:
        with contextlib.suppress(OSError):  # full buffer or gone: the bytes are lost, as on a UART
            os.write(child.master, data)

    def _from_board(self, data: bytes) -> None:
        with self._lock:
            self._last_sigint = 0.0  # the board reacted: the next 0x03 counts again
            self._tail = (self._tail + data)[-64:]
            if RAW_BANNER in self._tail or self._tail.endswith(b"\x04>"):
                self._raw_repl = True
            elif self._tail.endswith(FRIENDLY_PROMPT):
                self._raw_repl = False
        with contextlib.suppress(OSError):  # nobody reading the port: drop, as a USB bridge does
            os.write(self._usb_master, data)
        for sink in self.sinks:
            sink(data)

    def _child_output(self, child: Child, data: bytes) -> None:
        if not child.entering_raw:
            self._from_board(data)
            return
        child.swallowed += data
        if child.swallowed.endswith(FRIENDLY_PROMPT):
            with self._lock:
                child.entering_raw = False
                self._write_child(child, b"\r" + CTRL_A)
                pending = bytes(child.pending_input)
                child.pending_input.clear()
                if pending:
                    self._to_board(pending)

    def _close_master(self, child: Child) -> None:
        if child.master_open:
            child.master_open = False
            with contextlib.suppress(OSError):
                os.close(child.master)

    def _loop(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                child = self._child
            fds = [self._usb_master, self._wake_r] + ([child.master] if child else [])
            try:
                readable, _, _ = select.select(fds, [], [])
            except OSError:
                return
            if self._wake_r in readable:
                with contextlib.suppress(OSError):
                    os.read(self._wake_r, 4096)
            if self._usb_master in readable:
                try:
                    data = os.read(self._usb_master, 4096)
                except OSError:
                    data = b""
                if data:
                    self.write_input(data)
            if child is not None and child.master in readable:
                self._read_child(child)

    def _read_child(self, child: Child) -> None:
        try:
            data = os.read(child.master, 4096)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            data = b""
        if data:
            self._child_output(child, data)
            return
        # EOF: every holder of the pty is gone, the process has ended.
        with self._lock:
            if self._child is child:
                self._child = None
            self._close_master(child)
            owned = child.reaped_by_owner
        child.drained.set()
        if owned:
            return
        try:
            code = child.proc.wait(10)
        except subprocess.TimeoutExpired:
            child.signal(signal.SIGKILL)
            code = child.proc.wait()
        child.release()
        self._on_exit(child, code)

    def close(self) -> None:
        """Kill the process if one runs, stop the I/O thread, remove the link."""
        with self._lock:
            child = self._child
            self._closed = True
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.kill(child)
        self._wake()
        if threading.current_thread() is not self._thread:
            self._thread.join(5)
        for fd in (self._usb_master, self._usb_slave, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        if child is not None:
            with self._lock:
                self._close_master(child)
        if self.link is not None and self.link.is_symlink():
            self.link.unlink()
