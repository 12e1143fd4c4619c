"""JSON in and out for the shadow service: orjson where it gives the json module's answers, the
json module where it does not.

Every shadow request parses its body, measures the new state, stores it and encodes its replies
on the service's network thread (issue #4), and the json module's Python-level set-up per call
(a new decoder or encoder whenever an option is passed) costs more than the work. orjson differs
from the json module in three places, so these fall back:
* integers beyond 64 bits: orjson reads them as floats (silently losing digits) and cannot
  write them;
* lone surrogate escapes (`"\\ud800"`) and nesting beyond 1,024 levels: orjson refuses them; the
  json module's answer decides which error the caller reports;
* numbers too large for a double (`1e400`): orjson refuses; the json module reads infinity,
  which `loads` refuses too (it is no JSON value and could not be written back).
Floats are written as the shortest text that reads back the same, by both.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

# a run of 19 digits may be an integer beyond 64 bits (orjson would turn it into a float)
_LONG_NUMBER = re.compile(rb"\d{19}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"not JSON: {name}")  # NaN/Infinity are Python extensions, not JSON


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {text[:20]}")
    return value


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def loads(data: bytes) -> Any:
    """Parse UTF-8 JSON text. Raises ValueError for anything that is not JSON (NaN, Infinity,
    numbers beyond a double included) and RecursionError for nesting too deep to parse."""
    if not _LONG_NUMBER.search(data):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # the json module decides what is wrong, or reads what orjson will not
    return _DECODER.decode(data.decode("utf-8"))


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON (no spaces, non-ASCII characters as they are)."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits: the json module writes those
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def copy(value: Any) -> Any:
    """An independent copy of a JSON tree (dicts, lists, scalars)."""
    try:
        return orjson.loads(orjson.dumps(value))
    except orjson.JSONEncodeError:
        return _copied(value)


def _copied(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _copied(child) for key, child in value.items()}
    if isinstance(value, list):
        return [_copied(child) for child in value]
    return value
