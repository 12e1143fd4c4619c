"""The SQL functions of topic rules (AWS IoT SQL Reference, "Functions"): the subset a local
cloud can answer. Each takes the message context and its evaluated arguments; invalid
arguments give UNDEFINED, as the guide says ("Functions given invalid arguments return
Undefined"). Pure: no store, no MQTT.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rig.cloud.core import arn
from rig.cloud.rules.md2 import md2_hex
from rig.cloud.rules.timefmt import parse_time


class _Undefined:
    """The SQL's Undefined: a key whose value is Undefined is left out of the result."""

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "Undefined"


UNDEFINED: Any = _Undefined()
_DECIMAL = re.compile(r"^-?\d+(\.\d+)?([eE]-?\d+)?$")


@dataclass(frozen=True)
class Message:
    """What the functions may ask about the message being evaluated."""

    topic: str
    client_id: str | None  # None: not known (the broker does not tell the cloud)
    timestamp_ms: int
    payload: bytes


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def to_number(value: Any) -> Any:
    """A Decimal for comparisons and arithmetic (§ Conversions): numbers, numeric strings."""
    if is_number(value):
        return value
    if isinstance(value, str) and _DECIMAL.match(value.strip()):
        text = value.strip()
        try:
            return int(text) if re.fullmatch(r"-?\d+", text) else float(text)
        except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
            return UNDEFINED
    return UNDEFINED


def _string(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if is_number(value) or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return UNDEFINED


def _topic(message: Message, *args: Any) -> Any:
    if not args:
        return message.topic
    index = args[0]
    if not is_number(index) or int(index) != index or index < 1:
        return UNDEFINED
    levels = message.topic.split("/")
    return levels[int(index) - 1] if int(index) <= len(levels) else UNDEFINED


def _hash(name: str) -> Callable[..., Any]:
    def digest(_message: Message, value: Any = UNDEFINED) -> Any:
        text = _string(value)
        if text is UNDEFINED:
            return UNDEFINED
        return hashlib.new(name, text.encode()).hexdigest()

    return digest


def _md2(_message: Message, value: Any = UNDEFINED) -> Any:
    text = _string(value)
    return UNDEFINED if text is UNDEFINED else md2_hex(text.encode())


def _parse_time(
    _message: Message, pattern: Any = UNDEFINED, timestamp: Any = UNDEFINED, zone: Any = "UTC"
) -> Any:
    """parse_time(pattern, timestampMs[, timezone]): rig/cloud/rules/timefmt.py."""
    number = to_number(timestamp)
    if not isinstance(pattern, str) or not isinstance(zone, str) or number is UNDEFINED:
        return UNDEFINED
    try:
        formatted = parse_time(pattern, int(number), zone)
    except (ValueError, OverflowError):
        return UNDEFINED
    return UNDEFINED if formatted is None else formatted


def _strings(operation: Callable[..., Any]) -> Callable[..., Any]:
    """A function of strings: numbers and booleans are turned to text first, else Undefined."""

    def wrapped(_message: Message, *args: Any) -> Any:
        texts = [_string(arg) for arg in args]
        if not texts or any(text is UNDEFINED for text in texts):
            return UNDEFINED
        try:
            return operation(*texts)
        except (TypeError, ValueError, IndexError, re.error):
            return UNDEFINED

    return wrapped


def _numbers(operation: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(_message: Message, *args: Any) -> Any:
        numbers = [to_number(arg) for arg in args]
        if not numbers or any(number is UNDEFINED for number in numbers):
            return UNDEFINED
        try:
            return operation(*numbers)
        except (TypeError, ValueError, ZeroDivisionError, OverflowError):
            return UNDEFINED

    return wrapped


def _concat(_message: Message, *args: Any) -> Any:
    if not args or any(arg is UNDEFINED for arg in args):
        return UNDEFINED
    if any(isinstance(arg, list) for arg in args):
        result: list[Any] = []
        for arg in args:
            result.extend(arg if isinstance(arg, list) else [arg])
        return result
    texts = [_string(arg) for arg in args]
    return UNDEFINED if UNDEFINED in texts else "".join(texts)


def _get(_message: Message, container: Any = UNDEFINED, key: Any = UNDEFINED) -> Any:
    if isinstance(container, dict) and isinstance(key, str):
        return container.get(key, UNDEFINED)
    if isinstance(container, list | str) and is_number(key) and int(key) == key:
        index = int(key)
        return container[index] if 0 <= index < len(container) else UNDEFINED
    return UNDEFINED


def _substring(text: str, start: str, end: str | None = None) -> str:
    begin = max(0, int(float(start)))
    if end is None:
        return text[begin:]
    stop = min(len(text), int(float(end)))
    return text[begin:stop] if stop > begin else ""


def _trunc(value: Any, digits: Any = 0) -> Any:
    """trunc(v, d): d clamped to 0..34, as the guide says (and 10**d stays small)."""
    scale = 10 ** min(34, max(0, int(digits)))
    return math.trunc(value * scale) / scale if scale > 1 else math.trunc(value)


def _round_half_away(value: Any) -> Any:
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def _cast(_message: Message, value: Any = UNDEFINED, kind: Any = UNDEFINED) -> Any:
    if kind in ("decimal", "int"):
        if isinstance(value, bool):
            number: Any = 1 if value else 0
        else:
            number = to_number(value)
        if number is UNDEFINED:
            return UNDEFINED
        return float(number) if kind == "decimal" else int(number)
    if kind == "string":
        return _string(value)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return value != 0 if is_number(value) else UNDEFINED
    return UNDEFINED


def _encode(_message: Message, value: Any = UNDEFINED, scheme: Any = UNDEFINED) -> Any:
    if scheme != "base64" or value is UNDEFINED:
        return UNDEFINED
    if isinstance(value, str):
        return base64.b64encode(value.encode()).decode()
    return base64.b64encode(json.dumps(value).encode()).decode()


def _regexp_matches(text: str, pattern: str) -> bool:
    return re.search(pattern, text) is not None


def _regexp_replace(text: str, pattern: str, replacement: str) -> str:
    return re.sub(pattern, re.sub(r"\$(\d)", r"\\\1", replacement), text)


def _regexp_substr(text: str, pattern: str) -> str:
    found = re.search(pattern, text)
    return found.group(0) if found else ""


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "topic": _topic,
    # Undefined while the broker does not tell the cloud who published
    "clientid": lambda m: m.client_id if m.client_id is not None else UNDEFINED,
    "timestamp": lambda m: m.timestamp_ms,
    "newuuid": lambda _m: str(uuid.uuid4()),
    "accountid": lambda _m: arn.ACCOUNT,
    "traceid": lambda _m: str(uuid.uuid4()),
    "principal": lambda _m: UNDEFINED,
    "get": _get,
    "concat": _concat,
    "isnull": lambda _m, v=UNDEFINED: v is None,
    "isundefined": lambda _m, v=UNDEFINED: v is UNDEFINED,
    "cast": _cast,
    "encode": _encode,
    "upper": _strings(str.upper),
    "lower": _strings(str.lower),
    "length": _strings(len),
    "numbytes": _strings(lambda s: len(s.encode())),
    "substring": _strings(_substring),
    "indexof": _strings(str.find),
    "startswith": _strings(str.startswith),
    "endswith": _strings(str.endswith),
    "trim": _strings(str.strip),
    "ltrim": _strings(str.lstrip),
    "rtrim": _strings(str.rstrip),
    "replace": _strings(str.replace),
    "regexp_matches": _strings(_regexp_matches),
    "regexp_replace": _strings(_regexp_replace),
    "regexp_substr": _strings(_regexp_substr),
    "abs": _numbers(abs),
    "mod": _numbers(lambda a, b: a % b),
    "round": _numbers(_round_half_away),
    "floor": _numbers(math.floor),
    "ceil": _numbers(math.ceil),
    "sign": _numbers(lambda v: (v > 0) - (v < 0)),
    "power": _numbers(lambda a, b: float(a) ** float(b)),
    "sqrt": _numbers(lambda v: math.sqrt(v)),
    "trunc": _numbers(_trunc),
    "bitand": _numbers(lambda a, b: int(a) & int(b)),
    "bitor": _numbers(lambda a, b: int(a) | int(b)),
    "bitxor": _numbers(lambda a, b: int(a) ^ int(b)),
    "md2": _md2,
    "parse_time": _parse_time,
    **{name: _hash(name) for name in ("md5", "sha1", "sha224", "sha256", "sha384", "sha512")},
}
