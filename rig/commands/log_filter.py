"""CloudWatch Logs filter patterns, the part `aws logs filter-log-events` needs for the cloud's
JSON log records (CloudWatch Logs User Guide "Filter pattern syntax"): a JSON pattern
`{ $.field = value }` with `=` / `!=` (strings, a trailing `*` a prefix match; numbers also
`<`, `<=`, `>`, `>=`), comparisons joined by `&&` / `||` (`&&` binds tighter) and grouped by
parentheses; or term patterns (every space-separated term, or "quoted phrase", must occur in
the message). An empty pattern matches everything. Pure: no files, no cloud."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

Match = Callable[[str], bool]
_TOKEN = re.compile(
    r"\s*(?:(?P<op>&&|\|\||[()])|(?P<cmp>!=|<=|>=|=|<|>)|(?P<sel>\$(?:\.[\w-]+|\[\d+\])+)"
    r'|"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<word>[^\s()=!<>&|"]+))'
)


class PatternError(ValueError):
    """The pattern does not parse (InvalidParameterException)."""


def compile_pattern(pattern: str | None) -> Match:
    text = (pattern or "").strip()
    if not text:
        return lambda _message: True
    if text.startswith("{"):
        if not text.endswith("}"):
            raise PatternError(f"Invalid filter pattern {pattern!r}: a JSON pattern ends with }}")
        return _json_pattern(text[1:-1], pattern or "")
    terms = re.findall(r'"([^"]*)"|(\S+)', text)
    words = [quoted or word for quoted, word in terms]
    return lambda message: all(word in message for word in words)


def _tokens(text: str, pattern: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        found = _TOKEN.match(text, position)
        if found is None or found.end() == position:
            raise PatternError(f"Invalid filter pattern {pattern!r} at {text[position:]!r}")
        kind = found.lastgroup or ""
        value = found.group(kind)
        tokens.append(("value" if kind in ("quoted", "word") else kind, value))
        if kind == "quoted":
            tokens[-1] = ("quoted", value)
        position = found.end()
    return tokens


def _json_pattern(text: str, pattern: str) -> Match:
    parser = _Parser(_tokens(text, pattern), pattern)
    test = parser.disjunction()
    if parser.position != len(parser.tokens):
        raise parser.error()

    def match(message: str) -> bool:
        try:
            record = json.loads(message)
        except ValueError:
            return False  # a JSON pattern matches JSON events only
        return test(record)

    return match


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], pattern: str) -> None:
        self.tokens = tokens
        self.pattern = pattern
        self.position = 0

    def error(self) -> PatternError:
        return PatternError(f"Invalid filter pattern {self.pattern!r}")

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self, kind: str) -> str:
        token = self._peek()
        if token is None or token[0] != kind:
            raise self.error()
        self.position += 1
        return token[1]

    def disjunction(self) -> Callable[[Any], bool]:
        parts = [self.conjunction()]
        while self._peek() == ("op", "||"):
            self.position += 1
            parts.append(self.conjunction())
        return lambda record: any(part(record) for part in parts)

    def conjunction(self) -> Callable[[Any], bool]:
        parts = [self.term()]
        while self._peek() == ("op", "&&"):
            self.position += 1
            parts.append(self.term())
        return lambda record: all(part(record) for part in parts)

    def term(self) -> Callable[[Any], bool]:
        if self._peek() == ("op", "("):
            self.position += 1
            inner = self.disjunction()
            if self._take("op") != ")":
                raise self.error()
            return inner
        selector = self._take("sel")
        operator = self._take("cmp")
        token = self._peek()
        if token is None or token[0] not in ("value", "quoted"):
            raise self.error()
        self.position += 1
        return _comparison(selector, operator, token[1], quoted=token[0] == "quoted")


def _select(record: Any, selector: str) -> Any:
    node = record
    for part in re.findall(r"\.([\w-]+)|\[(\d+)\]", selector):
        key, index = part
        if key and isinstance(node, dict) and key in node:
            node = node[key]
        elif index and isinstance(node, list) and int(index) < len(node):
            node = node[int(index)]
        else:
            return _MISSING
    return node


_MISSING = object()


def _comparison(selector: str, operator: str, value: str, quoted: bool) -> Callable[[Any], bool]:
    number: float | None = None
    if not quoted:
        try:
            number = float(value)
        except ValueError:
            number = None
    if operator not in ("=", "!=") and number is None:
        raise PatternError(f"{selector} {operator} {value}: a numeric comparison needs a number")

    def test(record: Any) -> bool:
        found = _select(record, selector)
        if found is _MISSING:
            return False
        if number is not None and isinstance(found, int | float) and not isinstance(found, bool):
            return {
                "=": found == number,
                "!=": found != number,
                "<": found < number,
                "<=": found <= number,
                ">": found > number,
                ">=": found >= number,
            }[operator]
        if operator not in ("=", "!="):
            return False
        text = json.dumps(found) if not isinstance(found, str) else found
        same = text.startswith(value[:-1]) if value.endswith("*") else text == value
        return same if operator == "=" else not same

    return test
