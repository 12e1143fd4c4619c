"""The AWS IoT SQL subset of topic rules, parsed into a small tree (pure: no store, no MQTT).

`parse(sql)` gives a `Query` or raises `SqlError` (the API turns it into SqlParseException).
Supported (AWS IoT SQL Reference): `SELECT *`, `SELECT VALUE expr`, comma lists of expressions
with `AS` aliases, nested fields `a.b.c` and `a[0]`, `FROM` a quoted (or bare) topic filter,
`WHERE`; expressions with literals (numbers, 'strings', "strings", true/false/null, object and
array literals), `+ - * / %`, comparisons `= <> != < <= > >=`, `AND OR NOT`, `CASE … END`,
function calls (the names in rig/cloud/rules/functions.py; `cast(x AS Type)`), and a nested
`(SELECT … FROM field WHERE …)` over an array (2016-03-23).
The evaluator is rig/cloud/rules/evaluate.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

KEYWORDS = frozenset(
    "SELECT VALUE FROM WHERE AS AND OR NOT CASE WHEN THEN ELSE END TRUE FALSE NULL".split()
)
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<number>\d+\.\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|\d+(?:[eE][-+]?\d+)?)
    | (?P<string>'(?:[^']|'')*'|"(?:[^"\\]|\\.)*")
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*|`[^`]+`)
    | (?P<op><>|!=|<=|>=|[-+*/%=<>(),.\[\]{}:])
    )""",
    re.VERBOSE,
)


class SqlError(ValueError):
    """The rule's SQL cannot be parsed (the reason says where)."""


@dataclass(frozen=True)
class Token:
    kind: str  # number, string, name, keyword, op, end
    text: str
    position: int
    value: Any = None


# ---- the tree ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class Path:
    """A field of the message (or of the element a nested SELECT is on): `a.b[0].c`."""

    steps: tuple[str | int, ...]


@dataclass(frozen=True)
class Member:
    """`expr.name` / `expr[index]` on something that is not a plain path (a call's result)."""

    target: Any
    step: Any  # a str (name) or an expression (index)


@dataclass(frozen=True)
class Unary:
    op: str  # NOT or -
    operand: Any


@dataclass(frozen=True)
class Binary:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class Call:
    name: str  # lower case
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Case:
    subject: Any
    whens: tuple[tuple[Any, Any], ...]
    otherwise: Any = None


@dataclass(frozen=True)
class ObjectLiteral:
    items: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class ArrayLiteral:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Star:
    pass


@dataclass(frozen=True)
class SelectItem:
    expression: Any  # Star() for `*`
    alias: str | None


@dataclass(frozen=True)
class Query:
    """`SELECT … FROM … WHERE …`; `source` is the topic filter (a Path in a nested SELECT)."""

    items: tuple[SelectItem, ...]
    source: Any
    where: Any = None
    value: bool = False  # SELECT VALUE expr
    functions: frozenset[str] = field(default_factory=frozenset)  # every function it calls


# ---- tokens ---------------------------------------------------------------------------------


def _tokens(sql: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while True:
        while position < len(sql) and sql[position].isspace():
            position += 1
        if position >= len(sql):
            tokens.append(Token("end", "", position))
            return tokens
        if tokens and tokens[-1].kind == "keyword" and tokens[-1].text == "FROM":
            if sql[position] not in "'\"":  # `FROM topic/#` unquoted (the guide has one)
                end = position
                while end < len(sql) and not sql[end].isspace() and sql[end] != ")":
                    end += 1
                tokens.append(Token("string", sql[position:end], position, sql[position:end]))
                position = end
                continue
        match = _TOKEN.match(sql, position)
        if match is None or match.end() == position:
            raise SqlError(f"unexpected character {sql[position]!r} at position {position}")
        kind = match.lastgroup or "op"
        text = match.group(kind)
        start = match.start(kind)
        position = match.end()
        if kind == "number":
            is_int = re.fullmatch(r"\d+", text) is not None
            tokens.append(Token(kind, text, start, int(text) if is_int else float(text)))
        elif kind == "string":
            body = text[1:-1]
            value = body.replace("''", "'") if text[0] == "'" else re.sub(r"\\(.)", r"\1", body)
            tokens.append(Token(kind, text, start, value))
        elif kind == "name" and text.upper() in KEYWORDS:
            tokens.append(Token("keyword", text.upper(), start))
        elif kind == "name":
            tokens.append(Token(kind, text.strip("`"), start))
        else:
            tokens.append(Token(kind, text, start))


# ---- parser ---------------------------------------------------------------------------------


class _Parser:
    def __init__(self, sql: str) -> None:
        self.tokens = _tokens(sql)
        self.index = 0
        self.functions: set[str] = set()

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def at(self, kind: str, text: str | None = None) -> bool:
        token = self.token
        return token.kind == kind and (text is None or token.text == text)

    def accept(self, kind: str, text: str | None = None) -> Token | None:
        return self.advance() if self.at(kind, text) else None

    def expect(self, kind: str, text: str | None = None) -> Token:
        if not self.at(kind, text):
            wanted = text or kind
            found = self.token.text or "the end"
            raise SqlError(f"expected {wanted} at position {self.token.position}, found {found}")
        return self.advance()

    # query := SELECT [VALUE expr | items] FROM source [WHERE expr]
    def query(self, nested: bool = False) -> Query:
        self.expect("keyword", "SELECT")
        value = self.accept("keyword", "VALUE") is not None
        items = (SelectItem(self.expression(), None),) if value else self.items()
        self.expect("keyword", "FROM")
        if nested:  # FROM a field: read as a bare topic filter by the tokenizer, a path here
            text = self.expect("string").value
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", text):
                raise SqlError(f"a nested SELECT must be FROM a field of the message: {text}")
            source: Any = Path(tuple(text.split(".")))
        else:
            source = self.expect("string").value
            if problem := _filter_problem(source):
                raise SqlError(f"FROM {source!r}: {problem}")
        where = self.expression() if self.accept("keyword", "WHERE") else None
        return Query(items, source, where, value, frozenset(self.functions))

    def items(self) -> tuple[SelectItem, ...]:
        items = [self.item()]
        while self.accept("op", ","):
            items.append(self.item())
        return tuple(items)

    def item(self) -> SelectItem:
        if self.accept("op", "*"):
            return SelectItem(Star(), None)
        expression = self.expression()
        alias = None
        if self.accept("keyword", "AS"):
            alias = self.alias()
        return SelectItem(expression, alias)

    def alias(self) -> str:
        token = self.advance()
        if token.kind in ("name", "string") or (token.kind == "keyword"):
            return str(token.value if token.kind == "string" else token.text)
        raise SqlError(f"expected a name after AS at position {token.position}")

    def expression(self) -> Any:
        left = self.conjunction()
        while self.accept("keyword", "OR"):
            left = Binary("OR", left, self.conjunction())
        return left

    def conjunction(self) -> Any:
        left = self.negation()
        while self.accept("keyword", "AND"):
            left = Binary("AND", left, self.negation())
        return left

    def negation(self) -> Any:
        if self.accept("keyword", "NOT"):
            return Unary("NOT", self.negation())
        return self.comparison()

    def comparison(self) -> Any:
        left = self.additive()
        for op in ("=", "<>", "!=", "<", "<=", ">", ">="):
            if self.accept("op", op):
                return Binary("<>" if op == "!=" else op, left, self.additive())
        return left

    def additive(self) -> Any:
        left = self.multiplicative()
        while self.token.kind == "op" and self.token.text in "+-":
            left = Binary(self.advance().text, left, self.multiplicative())
        return left

    def multiplicative(self) -> Any:
        left = self.unary()
        while self.token.kind == "op" and self.token.text in ("*", "/", "%"):
            left = Binary(self.advance().text, left, self.unary())
        return left

    def unary(self) -> Any:
        if self.accept("op", "-"):
            operand = self.unary()
            if isinstance(operand, Literal) and isinstance(operand.value, int | float):
                return Literal(-operand.value)
            return Unary("-", operand)
        return self.postfix(self.primary())

    def postfix(self, target: Any) -> Any:
        while True:
            if self.accept("op", "."):
                token = self.advance()
                if token.kind not in ("name", "keyword"):
                    raise SqlError(f"expected a field name at position {token.position}")
                name = token.text
                target = (
                    Path((*target.steps, name))
                    if isinstance(target, Path)
                    else Member(target, name)
                )
            elif self.accept("op", "["):
                index = self.expression()
                self.expect("op", "]")
                if isinstance(target, Path) and isinstance(index, Literal):
                    target = Path((*target.steps, index.value))
                else:
                    target = Member(target, index)
            else:
                return target

    def primary(self) -> Any:
        token = self.advance()
        if token.kind in ("number", "string"):
            return Literal(token.value)
        if token.kind == "keyword" and token.text in ("TRUE", "FALSE", "NULL"):
            return Literal({"TRUE": True, "FALSE": False, "NULL": None}[token.text])
        if token.kind == "keyword" and token.text == "CASE":
            return self.case()
        if token.kind == "name":
            if self.accept("op", "("):
                return self.call(token.text.lower())
            return Path((token.text,))
        if token.kind == "op" and token.text == "(":
            if self.at("keyword", "SELECT"):
                inner = self.query(nested=True)
                self.expect("op", ")")
                return inner
            inner = self.expression()
            self.expect("op", ")")
            return inner
        if token.kind == "op" and token.text == "{":
            return self.object_literal()
        if token.kind == "op" and token.text == "[":
            items: list[Any] = []
            if not self.accept("op", "]"):
                items.append(self.expression())
                while self.accept("op", ","):
                    items.append(self.expression())
                self.expect("op", "]")
            return ArrayLiteral(tuple(items))
        found = token.text or "the end"
        raise SqlError(f"unexpected {found} at position {token.position}")

    def call(self, name: str) -> Call:
        from rig.cloud.rules.functions import FUNCTIONS  # the names only; no cycle at runtime

        if name not in FUNCTIONS:
            raise SqlError(f"unknown function {name}()")
        self.functions.add(name)
        args: list[Any] = []
        if not self.accept("op", ")"):
            args.append(self.expression())
            if name == "cast":
                self.expect("keyword", "AS")
                args.append(Literal(self.advance().text.lower()))
            while self.accept("op", ","):
                args.append(self.expression())
            self.expect("op", ")")
        return Call(name, tuple(args))

    def case(self) -> Case:
        subject = self.expression()
        whens: list[tuple[Any, Any]] = []
        while self.accept("keyword", "WHEN"):
            test = self.expression()
            self.expect("keyword", "THEN")
            whens.append((test, self.expression()))
        if not whens:
            raise SqlError("CASE needs at least one WHEN")
        otherwise = self.expression() if self.accept("keyword", "ELSE") else None
        self.expect("keyword", "END")
        return Case(subject, tuple(whens), otherwise)

    def object_literal(self) -> ObjectLiteral:
        items: list[tuple[str, Any]] = []
        if self.accept("op", "}"):
            return ObjectLiteral(())
        while True:
            key = self.advance()
            if key.kind not in ("string", "name"):
                raise SqlError(f"expected a key at position {key.position}")
            self.expect("op", ":")
            items.append((str(key.value if key.kind == "string" else key.text), self.expression()))
            if self.accept("op", "}"):
                return ObjectLiteral(tuple(items))
            self.expect("op", ",")


def _filter_problem(topic_filter: str) -> str | None:
    """Why `topic_filter` is no MQTT topic filter (MQTT 3.1.1 §4.7.1), or None."""
    if not topic_filter:
        return "a topic filter is needed"
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            return "'#' must be a whole level, the last one"
        if "+" in level and level != "+":
            return "'+' must be a whole level"
    if "\x00" in topic_filter:
        return "a topic filter has no NUL character"
    return None


def parse(sql: str) -> Query:
    """The rule's SQL as a tree, or SqlError saying what is wrong."""
    if not isinstance(sql, str) or not sql.strip():
        raise SqlError("the SQL statement is empty")
    parser = _Parser(sql)
    try:
        query = parser.query()
    except RecursionError as exc:
        raise SqlError("the SQL statement is nested too deeply") from exc
    if not parser.at("end"):
        raise SqlError(f"unexpected {parser.token.text} at position {parser.token.position}")
    return query
