"""Evaluating a parsed rule (rig/cloud/rules/sql.py) on one message (pure: no store, no MQTT).

`run(query, message)` gives `Fired(result)` (the SELECT's output: a dict, another JSON value with
`SELECT VALUE`, or the payload's bytes for `SELECT *` on a payload that is not JSON) or None
when the WHERE clause is not true. Semantics from the AWS IoT SQL Reference: WHERE first;
Undefined keys are dropped; `=`/`<>` compare types strictly (mismatched types: `=` false, `<>`
true; an Undefined operand: Undefined); `< <= > >=` and arithmetic convert both sides to numbers;
`+` concatenates when either side is a string; Int op Int gives Int; AND/OR/NOT take booleans
or the strings "true"/"false". `substitute(template, message)` fills a `${expression}` template.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from rig.cloud.rules import sql
from rig.cloud.rules.functions import FUNCTIONS, UNDEFINED, Message, is_number, to_number


@dataclass(frozen=True)
class Fired:
    result: Any  # dict / JSON value / bytes (SELECT * of a binary payload)


def document_of(payload: bytes) -> Any:
    """The message as the SQL sees it: its JSON value, or UNDEFINED when it is not JSON."""
    try:
        return json.loads(payload)
    except (ValueError, RecursionError):
        return UNDEFINED


def run(query: sql.Query, message: Message, document: Any = None) -> Fired | None:
    document = document_of(message.payload) if document is None else document
    if query.where is not None and _truth(_eval(query.where, document, message)) is not True:
        return None
    if query.value:  # an Undefined value is no output: nothing to send
        value = _eval(query.items[0].expression, document, message)
        return None if value is UNDEFINED else Fired(_plain(value))
    if all(isinstance(i.expression, sql.Star) for i in query.items):
        # `SELECT *` is the message as it came: any JSON value, or a binary payload's bytes
        return Fired(message.payload if document is UNDEFINED else document)
    return Fired(_select(query.items, document, message))


def _select(items: tuple[sql.SelectItem, ...], document: Any, message: Message) -> Any:
    result: dict[str, Any] = {}
    for item in items:
        if isinstance(item.expression, sql.Star):
            if isinstance(document, dict):
                result.update(document)
            continue
        value = _eval(item.expression, document, message)
        if value is not UNDEFINED:
            result[item.alias or _default_name(item.expression)] = _plain(value)
    return result


def _default_name(expression: Any) -> str:
    if isinstance(expression, sql.Path):
        names = [step for step in expression.steps if isinstance(step, str)]
        return names[-1] if names else "value"
    if isinstance(expression, sql.Call):
        return expression.name
    return "value"


def _plain(value: Any) -> Any:
    """A value fit for JSON: Undefined members of objects and arrays dropped."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not UNDEFINED}
    if isinstance(value, list):
        return [_plain(v) for v in value if v is not UNDEFINED]
    return value


def _eval(node: Any, document: Any, message: Message) -> Any:
    if isinstance(node, sql.Literal):
        return node.value
    if isinstance(node, sql.Path):
        return _walk(document, node.steps)
    if isinstance(node, sql.Member):
        target = _eval(node.target, document, message)
        step = node.step if isinstance(node.step, str) else _eval(node.step, document, message)
        return _walk(target, (step,))
    if isinstance(node, sql.Binary):
        return _binary(node, document, message)
    if isinstance(node, sql.Unary):
        value = _eval(node.operand, document, message)
        if node.op == "NOT":
            truth = _truth(value)
            return UNDEFINED if truth is UNDEFINED else not truth
        number = to_number(value)
        return UNDEFINED if number is UNDEFINED else -number
    if isinstance(node, sql.Call):
        args = [_eval(arg, document, message) for arg in node.args]
        try:
            return FUNCTIONS[node.name](message, *args)
        except TypeError:  # the wrong number of arguments
            return UNDEFINED
    if isinstance(node, sql.Case):
        subject = _eval(node.subject, document, message)
        if subject is UNDEFINED:
            return UNDEFINED
        for test, outcome in node.whens:
            if _equal(subject, _eval(test, document, message)) is True:
                return _eval(outcome, document, message)
        return UNDEFINED if node.otherwise is None else _eval(node.otherwise, document, message)
    if isinstance(node, sql.ObjectLiteral):
        return {key: _eval(value, document, message) for key, value in node.items}
    if isinstance(node, sql.ArrayLiteral):
        return [_eval(item, document, message) for item in node.items]
    if isinstance(node, sql.Query):
        return _nested(node, document, message)
    raise TypeError(f"not an expression: {node!r}")


def _nested(query: sql.Query, document: Any, message: Message) -> Any:
    """`(SELECT v FROM e WHERE n = 'x')`: the SELECT over each element of the array `e`."""
    elements = _walk(document, query.source.steps)
    if not isinstance(elements, list):
        return UNDEFINED
    results = []
    for element in elements:
        fired = run(query, message, element)
        if fired is not None:
            results.append(fired.result)
    return results


def _walk(value: Any, steps: tuple[Any, ...]) -> Any:
    for step in steps:
        if isinstance(step, str) and isinstance(value, dict):
            value = value.get(step, UNDEFINED)
        elif is_number(step) and int(step) == step and isinstance(value, list):
            index = int(step)
            value = value[index] if 0 <= index < len(value) else UNDEFINED
        else:
            return UNDEFINED
    return value


def _truth(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return UNDEFINED


def _equal(left: Any, right: Any) -> Any:
    if left is UNDEFINED or right is UNDEFINED:
        return UNDEFINED
    if is_number(left) and is_number(right):
        return left == right
    if type(left) is not type(right):
        return False
    return left == right  # lists in order; dicts whatever the key order


def _binary(node: sql.Binary, document: Any, message: Message) -> Any:
    left = _eval(node.left, document, message)
    if node.op in ("AND", "OR"):
        first = _truth(left)
        if node.op == "AND" and first is False:
            return False
        if node.op == "OR" and first is True:
            return True
        second = _truth(_eval(node.right, document, message))
        if first is UNDEFINED or second is UNDEFINED:
            return UNDEFINED
        return second
    right = _eval(node.right, document, message)
    if node.op == "=":
        return _equal(left, right)
    if node.op == "<>":
        equal = _equal(left, right)
        return UNDEFINED if equal is UNDEFINED else not equal
    if node.op == "+" and (isinstance(left, str) or isinstance(right, str)):
        if left is UNDEFINED or right is UNDEFINED:
            return UNDEFINED
        return f"{_text(left)}{_text(right)}"
    a, b = to_number(left), to_number(right)
    if a is UNDEFINED or b is UNDEFINED:
        return UNDEFINED
    if node.op in ("<", "<=", ">", ">="):
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[node.op]
    return _arithmetic(node.op, a, b)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _arithmetic(op: str, a: Any, b: Any) -> Any:
    both_int = isinstance(a, int) and isinstance(b, int)
    try:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return int(a / b) if both_int and a % b else (a // b if both_int else a / b)
        if op == "%":
            return math.fmod(a, b) if not both_int else int(math.fmod(a, b))
    except (ZeroDivisionError, ValueError, OverflowError):  # x % 0 is fmod's ValueError
        return UNDEFINED
    return UNDEFINED


_TEMPLATE = re.compile(r"\$\$|\$\{((?:[^}'\"]|'[^']*'|\"[^\"]*\")*)\}")


def substitute(template: str, message: Message) -> str:
    """`${expression}` in an action's parameter, evaluated on the incoming message (R-4);
    `$$` is a literal `$` (the guide's `$$aws/things/…/shadow/update`). An expression that is
    Undefined gives the empty string; one that does not parse raises sql.SqlError."""
    document = document_of(message.payload)

    def fill(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        expression = _expression(match.group(1))
        value = _eval(expression, document, message)
        if value is UNDEFINED or value is None:
            return ""
        return value if isinstance(value, str) else json.dumps(value)

    return _TEMPLATE.sub(fill, template)


def _expression(text: str) -> Any:
    query = sql.parse(f"SELECT VALUE {text} FROM 't'")
    return query.items[0].expression


def check_template(template: str) -> None:
    """sql.SqlError when a `${…}` in `template` does not parse (checked at create time)."""
    for match in _TEMPLATE.finditer(template):
        if match.group(0) != "$$":
            _expression(match.group(1))
