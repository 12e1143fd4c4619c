"""`parse_time(pattern, timestampMs[, timezone])` of the AWS IoT SQL (SQL version 2016-03-23): a
timestamp formatted with a Joda-Time `DateTimeFormat` pattern, in a time zone (default UTC).

Joda-Time's pattern letters (its DateTimeFormat javadoc): G era, C century of era, Y year of era,
x weekyear, w week of weekyear, e day of week (number), E day of week (text), y year, D day of
year, M month of year, d day of month, a halfday, K hour of halfday (0~11), h clockhour of
halfday (1~12), H hour of day (0~23), k clockhour of day (1~24), m minute, s second, S fraction
of second, z time zone name, Z offset or id; `'…'` quotes text, `''` is a single quote, any other
character that is not a letter is itself. A count of numeric letters is the minimum number of
digits; `yy` (and `xx`, `YY`) is the year's last two digits; text: 3 or fewer letters is the short
form, 4 or more the full one. A letter Joda does not have, an unclosed quote, an unknown zone or
a timestamp that is not a number: None (the caller makes it Undefined, as the guide says of
invalid arguments). `zzzz` (Joda: the zone's long name, e.g. "Central Standard Time", which the
IANA database does not hold) is None too.
"""

from __future__ import annotations

import datetime
import re
import zoneinfo
from collections.abc import Callable, Sequence

_RUN = re.compile(r"'(?:[^']|'')*'|([A-Za-z])\1*|[^A-Za-z']+|'")
_MONTHS = (
    "January February March April May June July August September October November December"
).split()
_DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()


def _number(value: int, count: int) -> str:
    return str(value).zfill(count)


def _year(value: int, count: int) -> str:
    return _number(value % 100, 2) if count == 2 else _number(value, count)


def _text(names: Sequence[str], index: int, count: int) -> str:
    return names[index] if count >= 4 else names[index][:3]


def _fraction(moment: datetime.datetime, count: int) -> str:
    return f"{moment.microsecond // 1000:03d}"[:count].ljust(count, "0")


def _offset(moment: datetime.datetime, count: int, zone_id: str) -> str:
    if count >= 3:
        return zone_id
    offset = moment.utcoffset() or datetime.timedelta()
    sign = "-" if offset < datetime.timedelta() else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    separator = ":" if count == 2 else ""
    return f"{sign}{minutes // 60:02d}{separator}{minutes % 60:02d}"


Field = Callable[[datetime.datetime, int], str]
_FIELDS: dict[str, Field] = {
    "G": lambda _m, _n: "AD",  # datetime has no year before 1
    "C": lambda m, n: _number(m.year // 100, n),
    "Y": lambda m, n: _year(m.year, n),
    "x": lambda m, n: _year(m.isocalendar()[0], n),
    "w": lambda m, n: _number(m.isocalendar()[1], n),
    "e": lambda m, n: _number(m.isoweekday(), n),
    "E": lambda m, n: _text(_DAYS, m.weekday(), n),
    "y": lambda m, n: _year(m.year, n),
    "D": lambda m, n: _number(m.timetuple().tm_yday, n),
    "M": lambda m, n: _text(_MONTHS, m.month - 1, n) if n >= 3 else _number(m.month, n),
    "d": lambda m, n: _number(m.day, n),
    "a": lambda m, _n: "AM" if m.hour < 12 else "PM",
    "K": lambda m, n: _number(m.hour % 12, n),
    "h": lambda m, n: _number(m.hour % 12 or 12, n),
    "H": lambda m, n: _number(m.hour, n),
    "k": lambda m, n: _number(m.hour or 24, n),
    "m": lambda m, n: _number(m.minute, n),
    "s": lambda m, n: _number(m.second, n),
    "S": _fraction,
}


def parse_time(pattern: str, timestamp_ms: int, zone_id: str = "UTC") -> str | None:
    """The formatted time, or None when an argument is not valid."""
    try:
        zone = zoneinfo.ZoneInfo(zone_id)
        moment = datetime.datetime.fromtimestamp(timestamp_ms / 1000, tz=zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OverflowError, OSError):
        return None
    out: list[str] = []
    for match in _RUN.finditer(pattern):
        run = match.group(0)
        letter = match.group(1)
        if letter is None:
            if run == "'":
                return None  # an unclosed quote
            out.append(run[1:-1].replace("''", "'") or "'" if run.startswith("'") else run)
        elif letter == "z":
            if len(run) >= 4:
                return None
            out.append(moment.tzname() or zone_id)
        elif letter == "Z":
            out.append(_offset(moment, len(run), zone_id))
        elif letter in _FIELDS:
            out.append(_FIELDS[letter](moment, len(run)))
        else:
            return None  # Joda: "Illegal pattern component"
    return "".join(out)
