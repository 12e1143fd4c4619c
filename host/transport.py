"""mpremote's raw-REPL transport on any pyserial URL, or on a port someone else already holds.

`SerialTransport` opens `serial.serial_for_url()` itself, so `/dev/ttyUSB0`, `rfc2217://host:port`,
`socket://host:port` and an emulated board's pty all work. A board driver that already has the
port open (and a console reader on it) lends it with `BorrowedPortTransport` instead of closing and
reopening it: reopening a USB bridge toggles DTR/RTS, which presses or resets a DevKitC-style board.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import serial
from mpremote.transport import TransportError, TransportExecError
from mpremote.transport_serial import SerialTransport

__all__ = [
    "BorrowedPortTransport",
    "TransportError",
    "TransportExecError",
    "enter_raw_repl",
    "open_transport",
    "raw_repl",
]

DEFAULT_BAUD = 115200
FRIENDLY_PROMPT = b">>> "
PROMPT_TIMEOUT_S = 2  # quiet time after which the prompt is taken as not coming


class BorrowedPortTransport(SerialTransport):
    """A `SerialTransport` over an open port; closing it leaves the port, DTR and RTS as they are."""

    def __init__(self, port: serial.SerialBase) -> None:
        self.in_raw_repl = False
        self.use_raw_paste = True
        self.device_name = port.name or port.portstr or "<borrowed port>"
        self.mounted = False
        self.serial = port
        self.is_pty = False

    def close(self) -> None:
        """Give the port back untouched (SerialTransport.close would drop DTR/RTS and close it)."""


def open_transport(url: str, baud: int = DEFAULT_BAUD) -> SerialTransport:
    """Open mpremote's transport on a device path or pyserial URL; TransportError names the URL."""
    try:
        return SerialTransport(url, baudrate=baud)
    except (OSError, serial.SerialException, TransportError) as exc:
        raise TransportError(f"cannot open {url}: {exc}") from exc


ENTER_ATTEMPTS = 3
ENTER_RETRY_PAUSE_S = 0.5


def enter_raw_repl(
    transport: SerialTransport, soft_reset: bool = False, attempts: int = ENTER_ATTEMPTS
) -> None:
    """mpremote's enter_raw_repl, tried again after a pause when the board does not answer: a board
    that is still booting (a DevKitC resets when its port is opened; an emulated board's process is
    still starting) loses the Ctrl-C / Ctrl-A it was sent."""
    for attempt in range(1, attempts + 1):
        try:
            transport.enter_raw_repl(soft_reset=soft_reset)
            return
        except TransportError:
            if attempt == attempts:
                raise
            time.sleep(ENTER_RETRY_PAUSE_S)


@contextmanager
def raw_repl(transport: SerialTransport, soft_reset: bool = False) -> Iterator[SerialTransport]:
    """Interrupt the running program, enter the raw REPL for the block, then leave it.

    No soft reset by default: the raw REPL only needs the firmware stopped, and a soft reset of an
    emulated board restarts its process (feasibility.md §6).
    """
    enter_raw_repl(transport, soft_reset=soft_reset)
    try:
        yield transport
    finally:
        transport.exit_raw_repl()
        # Take the banner and `>>> ` the board answers with: a console reader that gets the port
        # back would otherwise see the board's next line glued to the prompt.
        transport.read_until(1, FRIENDLY_PROMPT, timeout=PROMPT_TIMEOUT_S)
