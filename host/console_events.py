"""The console's event lines (docs/contracts.md): `EVT {json}` parsed into a dict.

The host tools (the monitor) and the board drivers built on them read a board's console the same
way, so the parser lives here, below both.
"""

from __future__ import annotations

import json
from typing import Any

EVENT_PREFIX = "EVT "
Event = dict[str, Any]


def parse_event_line(line: str) -> Event | None:
    """The event on one console line, or None when the line is not an event line.

    A line that starts with the prefix but does not hold a JSON object with an `ev` is reported as
    an `_unparsed` event (so a broken event is seen, not silently dropped).
    """
    line = line.rstrip("\r\n")
    if not line.startswith(EVENT_PREFIX):
        return _event_after_noise(line)
    body = line[len(EVENT_PREFIX) :]
    try:
        event = json.loads(body)
    except ValueError:
        event = None
    if not isinstance(event, dict) or not isinstance(event.get("ev"), str):
        return _event_after_noise(line) or {"ev": "_unparsed", "line": line}
    return event


def _event_after_noise(line: str) -> Event | None:
    """An event printed after the unfinished line of a board that lost power or reset mid-print.

    Only a whole event counts here, so a REPL echo that merely mentions the prefix is not one.
    """
    marker = EVENT_PREFIX + "{"
    at = line.find(marker, 1)
    while at > 0:  # the noise may itself end in the start of a cut-off event
        try:
            event = json.loads(line[at + len(EVENT_PREFIX) :])
        except ValueError:
            event = None
        if isinstance(event, dict) and isinstance(event.get("ev"), str):
            return event
        at = line.find(marker, at + 1)
    return None
