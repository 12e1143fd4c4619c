"""What a board printed: raw console text plus the parsed `EVT ` lines (docs/contracts.md;
the line parser is host.console_events, shared with `buttonrig board monitor`).

Shared by every board driver: feed it bytes as they arrive, wait on it with `expect`.
"""

from __future__ import annotations

import codecs
import json
import threading
import time
from typing import Any

from host.console_events import Event, parse_event_line
from rig.drivers.base import ExpectTimeout


def matches(event: Event, ev: str, fields: dict[str, Any]) -> bool:
    return event.get("ev") == ev and all(event.get(k, _MISSING) == v for k, v in fields.items())


_MISSING = object()


class ConsoleLog:
    """Thread-safe console record with a cursor for `expect` (like pytest-embedded's Dut)."""

    def __init__(self, tail_chars: int = 1500) -> None:
        self._cond = threading.Condition()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._text: list[str] = []
        self._partial = ""
        self._events: list[Event] = []
        self._cursor = 0
        self._tail_chars = tail_chars

    def feed(self, data: bytes) -> None:
        text = self._decoder.decode(data)
        if not text:
            return
        with self._cond:
            self._text.append(text)
            lines = (self._partial + text).split("\n")
            self._partial = lines.pop()
            for line in lines:
                event = parse_event_line(line)
                if event is not None:
                    self._events.append(event)
            self._cond.notify_all()

    def note(self, text: str) -> None:
        """A line from the rig itself (e.g. the board went to sleep), kept in the console text."""
        self.feed(f"\n[rig] {text}\n".encode())

    def clear(self) -> None:
        with self._cond:
            self._text.clear()
            self._partial = ""
            self._events.clear()
            self._cursor = 0

    def text(self) -> str:
        with self._cond:
            return "".join(self._text)

    def events(self, ev: str | None = None) -> list[Event]:
        with self._cond:
            return [e for e in self._events if ev is None or e.get("ev") == ev]

    def mark(self) -> int:
        """Current position in the event list; pass to `events_since`."""
        with self._cond:
            return len(self._events)

    def events_since(self, mark: int, ev: str | None = None) -> list[Event]:
        with self._cond:
            return [e for e in self._events[mark:] if ev is None or e.get("ev") == ev]

    def skip_to_end(self) -> None:
        """Later `expect` calls only see events that arrive from now on."""
        with self._cond:
            self._cursor = len(self._events)

    def expect(self, ev: str, timeout: float, **fields: Any) -> Event:
        """The next event `ev` (after the cursor) whose fields equal `fields`; moves the cursor past it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            start = self._cursor
            while True:
                for i in range(self._cursor, len(self._events)):
                    if matches(self._events[i], ev, fields):
                        self._cursor = i + 1
                        return self._events[i]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ExpectTimeout(self._describe_miss(ev, fields, timeout, start))
                self._cond.wait(left)

    def _describe_miss(self, ev: str, fields: dict[str, Any], timeout: float, start: int) -> str:
        wanted = json.dumps({"ev": ev, **fields}, default=str)
        seen = self._events[start:]
        listed = "\n".join(f"  {json.dumps(e, default=str)}" for e in seen[-30:]) or "  (none)"
        text = "".join(self._text)[-self._tail_chars :]
        return (
            f"no event matching {wanted} within {timeout:.1f} s.\n"
            f"Events seen instead ({len(seen)}):\n{listed}\n"
            f"Console tail:\n{text}"
        )
