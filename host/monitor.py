"""Follow a board's console: print its lines, pretty-print `EVT ` events, redact key material.

The firmware never prints secrets (docs/contracts.md), but a monitor is also pointed at boards
running other code, at REPL sessions where someone typed `print(open('key.der').read())`, and at
tracebacks; so it redacts defensively: PEM blocks, long base64 runs, long hex runs, Python bytes
literals full of escapes (DER shows up that way), and the values of fields named like secrets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import serial

from host.console_events import EVENT_PREFIX, Event, parse_event_line
from host.serialport import open_serial

REDACTED = "[REDACTED]"

_PEM_BLOCK = re.compile(
    r"-----BEGIN ([A-Z0-9 ]+)-----.*?(-----END \1-----|$)", re.DOTALL
)  # an unterminated block (cut line) is redacted to the end
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{40,}={0,2}")
_HEX_RUN = re.compile(r"\b(?:[0-9a-fA-F]{2}[:\s]?){32,}")
_BYTES_LITERAL = re.compile(r"b'(?:[^'\\]|\\.)*'" + "|" + r'b"(?:[^"\\]|\\.)*"')
_BINARY_ESCAPES = 8  # a bytes literal with this many \x escapes is binary data, maybe DER
_SECRET_FIELD = re.compile(
    r"""(?P<key>["']?(?:password|passwd|psk|pass|private_?key|key_der|secret|token)["']?\s*[:=]\s*)"""
    r"""(?P<value>"[^"]*"|'[^']*'|[^\s,}]+)""",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """The text with anything that looks like key material or a password replaced."""
    text = _PEM_BLOCK.sub(lambda m: f"-----{m.group(1)} {REDACTED}-----", text)
    text = _SECRET_FIELD.sub(lambda m: m.group("key") + f'"{REDACTED}"', text)
    text = _BYTES_LITERAL.sub(
        lambda m: REDACTED if m.group(0).count("\\x") >= _BINARY_ESCAPES else m.group(0), text
    )
    text = _HEX_RUN.sub(REDACTED, text)
    return _BASE64_RUN.sub(REDACTED, text)


def format_event(event: Event) -> str:
    """`{"ev": "click", "type": "SINGLE", ...}` → `[click] type="SINGLE" ...`."""
    fields = " ".join(
        f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in event.items() if k != "ev"
    )
    return f"[{event['ev']}] {fields}".rstrip()


def render_line(line: str, pretty: bool = True) -> str:
    """One console line as the monitor prints it (always redacted). Events are parsed by
    host.console_events, the parser the board drivers use too, so the monitor and the tests read
    the console the same way."""
    line = redact(line.rstrip("\r\n"))
    event = parse_event_line(line) if pretty else None
    if event is None:
        return line
    if event["ev"] == "_unparsed":
        return f"[EVT?] {line[len(EVENT_PREFIX) :]}"
    return format_event(event)


@dataclass
class LineSplitter:
    """Bytes in, complete text lines out; a multi-line PEM block is held until it ends so it is
    redacted whole rather than line by line."""

    _partial: str = ""
    _pem: list[str] = field(default_factory=list)

    def feed(self, data: bytes) -> Iterator[str]:
        self._partial += data.decode("utf-8", "replace")
        *lines, self._partial = self._partial.split("\n")
        for line in lines:
            yield from self._through_pem(line)

    def flush(self) -> Iterator[str]:
        rest, self._partial = self._partial, ""
        if self._pem or rest:
            yield "\n".join([*self._pem, rest]) if self._pem else rest
            self._pem = []

    def _through_pem(self, line: str) -> Iterator[str]:
        if self._pem or "-----BEGIN " in line:
            self._pem.append(line)
            if "-----END " in line or len(self._pem) > 200:  # give up holding a runaway block
                yield "\n".join(self._pem)
                self._pem = []
            return
        yield line


def follow(
    port: serial.Serial,
    emit: Callable[[str], None] = print,
    pretty: bool = True,
    stop: Callable[[], bool] = lambda: False,
) -> None:
    """Print the console of an open port until `stop()` is true or the port closes."""
    splitter = LineSplitter()
    while not stop():
        try:
            data = port.read(port.in_waiting or 1)
        except (serial.SerialException, OSError):
            break
        for line in splitter.feed(data):
            emit(render_line(line, pretty))
    for line in splitter.flush():
        emit(render_line(line, pretty))


def monitor(url: str, baud: int = 115200, pretty: bool = True) -> None:
    """`buttonrig board monitor`: follow a port until Ctrl-C. DTR/RTS stay released so opening
    the monitor neither resets nor presses a DevKitC-style board."""
    port = open_serial(url, baud, timeout=0.2)
    try:
        follow(port, pretty=pretty)
    finally:
        port.close()
