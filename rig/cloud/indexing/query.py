"""The fleet-indexing query language: parse a query string into a tree, evaluate it on a thing.

Pure (no database): the engine of the indexing service. The syntax is the AWS IoT developer
guide's "Query syntax" (a Lucene subset): `field:value` terms and bare terms, quoted phrases,
`*` and `?` wildcards, ranges `[a TO b]` / `{a TO b}` (mixed brackets too, `*` as an open end),
comparisons `field<v`, `field>v`, `field<=v`, `field>=v`, `AND`, `OR`, `NOT`, the `-` prefix,
grouping with parentheses and field grouping (`field:(>70 AND <100)`), backslash escapes. The
default operator between terms is AND. What the guide leaves open is decided in
docs/cloud-decisions.md (X-2 .. X-5): AND binds tighter than OR; values are matched whole
(keywords, case-insensitive), not split into words; numbers compare as numbers.

A thing is evaluated as a `Document`: each searchable field name (`thingName`,
`attributes.room_number`, `shadow.reported.stats.battery`, …) with its list of values (an array
in a shadow gives several), and the set of object paths that exist (`shadow.reported.stats`).
"""

from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass, field
from typing import Any

MAX_TERMS = 12  # "The maximum number of terms in a query is 12" (guide, Query syntax)
MAX_LEADING_WILDCARD_QUERY = 100  # with a leading wildcard, at most 100 characters (guide)
# Not supported unquoted (guide, "Unsupported features"); `\` escapes the next character.
UNSUPPORTED = set("`@#%/';,")
SPECIAL = set('()[]{}:"<>') | set(" \t\r\n\f\v")
KEYWORDS = ("AND", "OR", "NOT")

Scalar = str | int | float | bool | None


class QuerySyntaxError(ValueError):
    """The query does not parse (the API's InvalidQueryException)."""


# ---------------------------------------------------------------- the tree


@dataclass(frozen=True)
class Match:
    """`field:value` (field None: any field). `pattern`: the value with `*`/`?` wildcards when
    `wildcard`, else the literal value; `exists` for a lone `*`."""

    field: str | None
    value: str
    wildcard: bool = False
    exists: bool = False


@dataclass(frozen=True)
class Range:
    """`field:[low TO high]` and comparisons; a bound None is open (`*`)."""

    field: str | None
    low: str | None
    high: str | None
    low_inclusive: bool = True
    high_inclusive: bool = True


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


Node = Match | Range | Not | And | Or


# ---------------------------------------------------------------- parsing


@dataclass
class _Word:
    text: str  # unescaped
    quoted: bool
    wildcards: list[int] = field(default_factory=list)  # positions of unescaped * and ?


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.terms = 0
        self.leading_wildcards = 0

    # -- characters
    def _skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _peek(self) -> str:
        """The next non-space character; "\0" at the end (never in a set of specials)."""
        self._skip()
        return self.text[self.pos] if self.pos < len(self.text) else "\0"

    def _error(self, what: str) -> QuerySyntaxError:
        return QuerySyntaxError(f"Syntax error in query at position {self.pos}: {what}")

    def _expect(self, char: str) -> None:
        if self._peek() != char:
            found = repr(self.text[self.pos]) if self.pos < len(self.text) else "end of query"
            raise self._error(f"expected {char!r}, found {found}")
        self.pos += 1

    def _keyword(self, word: str) -> bool:
        """The keyword `word` next, as a whole word (AND, OR, NOT, TO)."""
        self._skip()
        end = self.pos + len(word)
        if self.text[self.pos : end] != word:
            return False
        if end < len(self.text) and not (self.text[end].isspace() or self.text[end] in "()"):
            return False
        self.pos = end
        return True

    def _word(self, allow_empty: bool = False) -> _Word:
        self._skip()
        if self.pos < len(self.text) and self.text[self.pos] == '"':
            return self._phrase()
        chars: list[str] = []
        wildcards: list[int] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\":
                if self.pos + 1 >= len(self.text):
                    raise self._error("a backslash must escape a character")
                chars.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if char in SPECIAL:
                break
            if char in UNSUPPORTED:
                raise self._error(f"the character {char!r} is not supported; quote or escape it")
            if char in "*?":
                wildcards.append(len(chars))
            chars.append(char)
            self.pos += 1
        if not chars and not allow_empty:
            found = repr(self.text[self.pos]) if self.pos < len(self.text) else "end of query"
            raise self._error(f"expected a term, found {found}")
        return _Word("".join(chars), False, wildcards)

    def _phrase(self) -> _Word:
        self.pos += 1  # opening quote
        chars: list[str] = []
        while self.pos < len(self.text) and self.text[self.pos] != '"':
            if self.text[self.pos] == "\\" and self.pos + 1 < len(self.text):
                self.pos += 1
            chars.append(self.text[self.pos])
            self.pos += 1
        if self.pos >= len(self.text):
            raise self._error("unterminated quoted phrase")
        self.pos += 1
        return _Word("".join(chars), True)

    # -- grammar: or := and (OR and)* ; and := unary ([AND] unary)* ; unary := (NOT|-) unary | primary
    def parse(self) -> Node:
        if not self.text.strip():
            raise QuerySyntaxError("Syntax error in query: the query string is empty")
        node = self._or(None)
        if self._peek() != "\0":
            raise self._error(f"unexpected {self.text[self.pos]!r}")
        if self.terms > MAX_TERMS:
            raise QuerySyntaxError(
                f"The query has {self.terms} terms; at most {MAX_TERMS} are allowed"
            )
        if self.leading_wildcards > 1:
            raise QuerySyntaxError("Leading wildcard use is limited to 1 query term per query")
        if self.leading_wildcards and len(self.text) > MAX_LEADING_WILDCARD_QUERY:
            raise QuerySyntaxError(
                f"A query with a leading wildcard can be at most {MAX_LEADING_WILDCARD_QUERY}"
                " characters long"
            )
        return node

    def _or(self, default_field: str | None) -> Node:
        children = [self._and(default_field)]
        while self._keyword("OR"):
            children.append(self._and(default_field))
        return children[0] if len(children) == 1 else Or(tuple(children))

    def _and(self, default_field: str | None) -> Node:
        children = [self._unary(default_field)]
        while True:
            if self._keyword("AND"):
                children.append(self._unary(default_field))
                continue
            nxt = self._peek()
            if nxt in ("\0", ")") or self._at_keyword("OR"):
                break
            children.append(self._unary(default_field))  # the default operator is AND
        return children[0] if len(children) == 1 else And(tuple(children))

    def _at_keyword(self, word: str) -> bool:
        start = self.pos
        found = self._keyword(word)
        self.pos = start
        return found

    def _unary(self, default_field: str | None) -> Node:
        if self._keyword("NOT"):
            return Not(self._unary(default_field))
        if self._peek() == "-":
            self.pos += 1
            return Not(self._unary(default_field))
        if self._peek() == "+":  # Lucene's "must": the default here anyway
            self.pos += 1
        return self._primary(default_field)

    def _primary(self, default_field: str | None) -> Node:
        char = self._peek()
        if char == "(":
            self.pos += 1
            node = self._or(default_field)
            self._expect(")")
            return node
        if char in "[{":
            return self._range(default_field)
        if char in "<>":
            return self._comparison(default_field)
        if char == ")":
            raise self._error("unexpected ')'")
        if self._at_keyword("AND") or self._at_keyword("OR"):
            raise self._error("an operator needs a term on each side")
        word = self._word()
        if not word.quoted and self.pos < len(self.text) and self.text[self.pos] == ":":
            if default_field is not None:
                raise self._error("a field cannot be given inside a field group")
            self.pos += 1
            return self._value(word.text)
        if not word.quoted and self.pos < len(self.text) and self.text[self.pos] in "<>[{":
            # `field>20`, and the guide's `attributes.serialNumber["abcd" TO "abcf"]`
            if default_field is not None:
                raise self._error("a field cannot be given inside a field group")
            if self.text[self.pos] in "[{":
                return self._range(word.text)
            return self._comparison(word.text)
        return self._term(default_field, word)

    def _value(self, field_name: str) -> Node:
        char = self._peek()
        if char == "(":
            self.pos += 1
            node = self._or(field_name)
            self._expect(")")
            return node
        if char in "[{":
            return self._range(field_name)
        if char in "<>":
            return self._comparison(field_name)
        return self._term(field_name, self._word())

    def _term(self, field_name: str | None, word: _Word) -> Node:
        self.terms += 1
        if word.quoted or not word.wildcards:
            return Match(field_name, word.text)
        if word.text == "*" and word.wildcards == [0]:
            return Match(field_name, "*", exists=True)
        if 0 in word.wildcards:
            self.leading_wildcards += 1
        # fnmatch syntax with only * and ? live: escape the rest (incl. escaped * and ?)
        pattern = "".join(
            char if index in word.wildcards else re.sub(r"([\[\]*?])", r"[\1]", char)
            for index, char in enumerate(word.text)
        )
        return Match(field_name, pattern, wildcard=True)

    def _comparison(self, field_name: str | None) -> Node:
        if field_name is None:
            raise self._error("a comparison needs a field")
        operator = self.text[self.pos]
        self.pos += 1
        inclusive = self.pos < len(self.text) and self.text[self.pos] == "="
        if inclusive:
            self.pos += 1
        bound = self._bound()
        self.terms += 1
        if operator == "<":
            return Range(field_name, None, bound, True, inclusive)
        return Range(field_name, bound, None, inclusive, True)

    def _bound(self) -> str:
        word = self._word()
        if word.wildcards and not word.quoted:
            raise self._error("a range bound cannot hold a wildcard (but a lone *)")
        return word.text

    def _range(self, field_name: str | None) -> Node:
        if field_name is None:
            raise self._error("a range needs a field")
        low_inclusive = self.text[self.pos] == "["
        self.pos += 1
        low = self._range_bound()
        if not self._keyword("TO"):
            raise self._error("a range is written [low TO high]")
        high = self._range_bound()
        closing = self._peek()
        if closing not in ("]", "}"):
            raise self._error("a range ends with ] or }")
        self.pos += 1
        self.terms += 1
        return Range(field_name, low, high, low_inclusive, closing == "]")

    def _range_bound(self) -> str | None:
        word = self._word()
        if not word.quoted and word.text == "*":
            return None
        if word.wildcards and not word.quoted:
            raise self._error("a range bound cannot hold a wildcard (but a lone *)")
        return word.text


def parse(text: str) -> Node:
    """The tree of a query string; QuerySyntaxError when it does not parse."""
    try:
        return _Parser(text).parse()
    except RecursionError as exc:
        raise QuerySyntaxError("Syntax error in query: nested too deeply") from exc


def fields_of(node: Node) -> set[str | None]:
    """The field names a query uses (None: a term on any field)."""
    if isinstance(node, Match | Range):
        return {node.field}
    if isinstance(node, Not):
        return fields_of(node.child)
    return set().union(*(fields_of(child) for child in node.children))


# ---------------------------------------------------------------- documents and evaluation


@dataclass
class Document:
    """A thing as the index sees it: field → values; and the object paths that exist.

    A value added under a name is flattened only when a query first asks for a field under
    it (a query naming two fields of a shadow does not flatten its metadata)."""

    fields: dict[str, list[Scalar]] = field(default_factory=dict)
    paths: set[str] = field(default_factory=set)
    _pending: dict[str, list[Any]] = field(default_factory=dict)

    def add(self, name: str, value: Any) -> None:
        """Index `value` under `name`: objects are flattened (`a.b.c`), arrays give several
        values of one field (an array of objects: its objects' fields)."""
        pending = self._pending.get(name)
        if pending is None:
            self._pending[name] = [value]
        else:
            pending.append(value)

    def _flatten(self, name: str, value: Any) -> None:
        if isinstance(value, dict):
            self.paths.add(name)
            for key, inner in value.items():
                self._flatten(f"{name}.{key}", inner)
        elif isinstance(value, list):
            self.paths.add(name)
            for item in value:
                self._flatten(name, item)
        else:
            self.fields.setdefault(name, []).append(value)
            self.paths.add(name)

    def _resolve(self, name: str | None) -> None:
        """Flatten what was added under `name`, or above or below it (None: everything)."""
        for source in list(self._pending):
            if (
                name is None
                or name == source
                or name.startswith(source + ".")
                or source.startswith(name + ".")
            ):
                for value in self._pending.pop(source):
                    self._flatten(source, value)

    def values(self, name: str) -> list[Scalar]:
        self._resolve(name)
        return self.fields.get(name, [])

    def has(self, name: str) -> bool:
        """Whether the field or object path exists (`shadow` does once `shadow.reported`
        does)."""
        self._resolve(name)
        prefix = name + "."
        return name in self.paths or any(path.startswith(prefix) for path in self.paths)

    def everything(self) -> dict[str, list[Scalar]]:
        self._resolve(None)
        return self.fields


def number(value: Scalar) -> float | None:
    """A value as a number: numbers, and strings that spell one (attributes are strings)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        parsed = float(value)
    except ValueError:
        return None
    return parsed if math.isfinite(parsed) else None


def text(value: Scalar) -> str:
    """A value as the index's keyword: lower case; booleans and null as JSON spells them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).lower()


def _match_value(node: Match, value: Scalar) -> bool:
    if node.wildcard:
        return fnmatch.fnmatchcase(text(value), node.value.lower())
    wanted = number(node.value)
    if wanted is not None and not isinstance(value, str):
        got = number(value)
        return got is not None and got == wanted
    return text(value) == node.value.lower()


def _in_range(node: Range, value: Scalar) -> bool:
    low_n = None if node.low is None else number(node.low)
    high_n = None if node.high is None else number(node.high)
    numeric = (node.low is None or low_n is not None) and (node.high is None or high_n is not None)
    if numeric and not (node.low is None and node.high is None):
        got = number(value)
        if got is None:
            return False
        if low_n is not None and (got < low_n or (got == low_n and not node.low_inclusive)):
            return False
        return not (
            high_n is not None and (got > high_n or (got == high_n and not node.high_inclusive))
        )
    if not isinstance(value, str):
        return False
    got_s = value.lower()
    low_s = None if node.low is None else node.low.lower()
    high_s = None if node.high is None else node.high.lower()
    if low_s is not None and (got_s < low_s or (got_s == low_s and not node.low_inclusive)):
        return False
    return not (
        high_s is not None and (got_s > high_s or (got_s == high_s and not node.high_inclusive))
    )


def _values(document: Document, name: str | None, any_fields: tuple[str, ...]) -> list[Scalar]:
    if name is not None:
        return document.values(name)
    fields = document.everything()
    return [v for key in any_fields for v in fields.get(key, [])] + [
        v
        for key, values in fields.items()
        if key.startswith(("attributes.", "shadow.reported.", "shadow.desired."))
        for v in values
    ]


ANY_FIELD = ("thingName", "thingTypeName", "thingGroupNames")


def matches(node: Node, document: Document) -> bool:
    """Whether the thing matches the query."""
    if isinstance(node, And):
        return all(matches(child, document) for child in node.children)
    if isinstance(node, Or):
        return any(matches(child, document) for child in node.children)
    if isinstance(node, Not):
        return not matches(node.child, document)
    if isinstance(node, Match):
        if node.exists:
            return document.has(node.field) if node.field is not None else True
        return any(_match_value(node, v) for v in _values(document, node.field, ANY_FIELD))
    return any(_in_range(node, v) for v in _values(document, node.field, ANY_FIELD))
