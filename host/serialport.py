"""Opening a board's serial port without pressing or resetting it.

On DevKitC-style boards DTR and RTS drive GPIO0 (the button) and EN (reset), so the lines are
released before the port opens. Over RFC 2217 the port is pyserial's client with one change (see
`PromptControlRfc2217Serial`).
"""

from __future__ import annotations

from typing import cast

import serial
from serial import rfc2217


class PromptControlRfc2217Serial(rfc2217.Serial):
    """pyserial's RFC 2217 client, except that a DTR/RTS change does not wait for the server's
    acknowledgement: TCP keeps the changes in order, and pyserial's wait (it polls every 50 ms)
    would stretch every step of a gesture to at least 50 ms, merging contact bounce into
    separate presses."""

    def rfc2217_set_control(self, value: bytes) -> None:
        # pyserial keeps its option objects private; it is pinned (3.5) in pyproject.toml.
        options = self._rfc2217_options  # pyright: ignore[reportAttributeAccessIssue]
        assert options is not None, "set_control on a closed port"
        options["control"].set(value)


def open_serial(url: str, baud: int, timeout: float) -> serial.Serial:
    """The port at `url` (device path or pyserial URL), opened with DTR and RTS released, so
    opening it neither presses nor resets a DevKitC-style board."""
    if url.startswith("rfc2217://"):
        prompt = PromptControlRfc2217Serial(None, baudrate=baud, timeout=timeout)  # not opened
        prompt.port = url
        port = cast(serial.Serial, prompt)  # the stubs type URL handlers apart; same interface
    else:
        port = serial.serial_for_url(url, baudrate=baud, timeout=timeout, do_not_open=True)
    port.dtr = False
    port.rts = False
    port.open()
    return port
