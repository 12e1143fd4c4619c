"""MQTT topic filters compiled once (the cloud service routes every message through them)."""

from __future__ import annotations

import re


def topic_filter_pattern(topic_filter: str) -> re.Pattern[str]:
    """A regex that `fullmatch`es exactly the topics `topic_filter` matches (MQTT 3.1.1 §4.7).

    Same answers as `paho.mqtt.client.topic_matches_sub`, which builds a matcher tree on every
    call (~8 µs); a compiled pattern answers in well under a microsecond. `+` is one level (may
    be empty), a trailing `#` is the parent level and everything below it, and a filter that
    starts with a wildcard never matches a topic that starts with `$`.
    """
    levels = topic_filter.split("/")
    tail = ""
    if levels[-1] == "#":
        levels.pop()
        tail = "(?:/.*)?" if levels else ".*"
    body = "/".join("[^/]*" if level == "+" else re.escape(level) for level in levels)
    guard = r"(?!\$)" if topic_filter[:1] in ("+", "#") else ""
    return re.compile(guard + body + tail, re.DOTALL)
