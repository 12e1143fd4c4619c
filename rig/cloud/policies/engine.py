"""Pure evaluator of AWS IoT policies (spec-core.md §3.5–3.9), MQTT topic filters, reserved topics.

Deny beats Allow; nothing allowed is denied (§3.7). Our choices where the guide is silent are in
docs/cloud-decisions.md (section "Policies").
"""

from __future__ import annotations

import enum
import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

POLICY_VERSION = "2012-10-17"
MAX_DOCUMENT_CHARS = 2048  # §3.5 "excluding whitespace"
MAX_VARIABLE_VALUE = 1024  # §3.8 longer values are not substituted
POLICY_NAME = re.compile(r"[\w+=,.@-]{1,128}")
STATEMENT_KEYS = {"Sid", "Effect", "Action", "Resource", "Condition"}


class PolicyError(ValueError):
    """A malformed policy document; the message names the problem."""


# ---------------------------------------------------------------- glob patterns


class Wild(enum.Enum):
    STAR = "*"  # any run of characters, `/` and `:` included
    ONE = "?"  # exactly one character


GlobToken = str | Wild  # a str token is one literal character
Glob = tuple[GlobToken, ...]


def glob_of(text: str) -> Glob:
    """`*` and `?` are wildcards, every other character is literal (MQTT `+`/`#` too, §3.7)."""
    return tuple(Wild.STAR if c == "*" else Wild.ONE if c == "?" else c for c in text)


@functools.lru_cache(maxsize=4096)
def _regex(pattern: Glob, ignore_case: bool) -> re.Pattern[str]:
    parts = [".*" if t is Wild.STAR else "." if t is Wild.ONE else re.escape(t) for t in pattern]
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def glob_matches(pattern: Glob, text: str, *, ignore_case: bool = False) -> bool:
    return _regex(pattern, ignore_case).fullmatch(text) is not None


# ---------------------------------------------------------------- principal and variables


@dataclass(frozen=True)
class Principal:
    """Who is asking. `thing_name` is set only when the connection's thing (named by the client
    id) has this certificate attached; thing variables resolve only then (§3.8)."""

    client_id: str | None
    thing_name: str | None
    certificate_id: str | None
    subject: Mapping[str, str]
    issuer: Mapping[str, str]
    thing_attributes: Mapping[str, str]
    region: str
    account: str
    thing_type_name: str | None = None


_ATTRIBUTE = re.compile(r"iot:Connection\.Thing\.Attributes\[(?P<name>[^\]]+)\]")
_CERT_FIELD = re.compile(
    r"iot:Certificate\.(?P<part>Subject|Issuer)\.(?P<attr>.+?)"
    r"(?:(?P<list>\.List)|(?:#|\.)(?P<index>\d+))?"
)


def variable_values(name: str, principal: Principal) -> list[str] | None:
    """All values of a policy variable / condition key, or None when it has none."""
    single: str | None = None
    if name == "iot:ClientId":
        single = principal.client_id
    elif name == "iot:CertificateId":
        single = principal.certificate_id
    elif name == "iot:Connection.Thing.IsAttached":
        single = "true" if principal.thing_name is not None else "false"
    elif name.startswith("iot:Connection.Thing.") and principal.thing_name is not None:
        rest = name.removeprefix("iot:Connection.Thing.")
        attribute = _ATTRIBUTE.fullmatch(name)
        if rest == "ThingName":
            single = principal.thing_name
        elif rest == "ThingTypeName":
            single = principal.thing_type_name
        elif attribute:
            single = principal.thing_attributes.get(attribute["name"])
    elif cert := _CERT_FIELD.fullmatch(name):
        source = principal.subject if cert["part"] == "Subject" else principal.issuer
        value = source.get(cert["attr"])
        if value is None or (cert["index"] is not None and int(cert["index"]) != 0):
            return None  # one value per attribute in this model: only index 0 exists
        return [value]
    return None if single is None else [single]


def _list_variable(name: str) -> bool:
    return name.endswith(".List")


def resolve_variable(name: str, principal: Principal) -> str | None:
    """The single value substituted for `${name}`, or None: then nothing matches (§3.7, §3.8)."""
    if name in ("*", "?", "$"):
        return name
    values = variable_values(name, principal)
    if values is None or _list_variable(name):
        return None
    value = values[0]
    if len(value) > MAX_VARIABLE_VALUE or "*" in value or "?" in value:
        return None  # §3.8: wildcards or over-long values are not substituted (ours: for all)
    return value


_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def resolve_pattern(pattern: str, principal: Principal) -> Glob | None:
    """Substitute `${...}` variables; substituted text is literal. None if any is unresolvable."""
    tokens: list[GlobToken] = []
    position = 0
    for found in _VARIABLE.finditer(pattern):
        tokens.extend(glob_of(pattern[position : found.start()]))
        value = resolve_variable(found[1], principal)
        if value is None:
            return None
        tokens.extend(value)  # literal characters, even `${*}` → "*" is a literal star
        position = found.end()
    tokens.extend(glob_of(pattern[position:]))
    return tuple(tokens)


# ---------------------------------------------------------------- documents


_OPERATORS = {
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "ArnEquals",
    "ArnNotEquals",
    "ArnLike",
    "ArnNotLike",
    "Bool",
    "Null",
}
_QUANTIFIERS = ("ForAllValues:", "ForAnyValue:")


@dataclass(frozen=True)
class Condition:
    """One `"<operator>": {"<key>": values}` entry of a statement's Condition block."""

    quantifier: str | None  # "ForAllValues" | "ForAnyValue" | None
    operator: str  # one of _OPERATORS
    if_exists: bool
    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Statement:
    effect: Literal["Allow", "Deny"]
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: tuple[Condition, ...]


def _strings(value: object, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise PolicyError(f"{where} must be a string or a non-empty list of strings")
    return tuple(items)


def _condition_values(value: object, where: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, (str, int, float)):
            out.append(str(item))
        else:
            raise PolicyError(f"{where}: condition values must be strings, numbers or booleans")
    if not out:
        raise PolicyError(f"{where}: condition has no values")
    return tuple(out)


def _parse_conditions(block: object, where: str) -> tuple[Condition, ...]:
    if not isinstance(block, dict):
        raise PolicyError(f"{where}.Condition must be an object")
    conditions: list[Condition] = []
    for raw_operator, entries in block.items():
        quantifier = None
        operator = raw_operator
        for prefix in _QUANTIFIERS:
            if operator.startswith(prefix):
                quantifier, operator = prefix[:-1], operator[len(prefix) :]
        if_exists = operator.endswith("IfExists") and operator != "IfExists"
        operator = operator.removesuffix("IfExists") if if_exists else operator
        if operator not in _OPERATORS:
            raise PolicyError(f"{where}: unsupported condition operator {raw_operator!r}")
        if not isinstance(entries, dict) or not entries:
            raise PolicyError(f"{where}: {raw_operator} must map condition keys to values")
        for key, values in entries.items():
            conditions.append(
                Condition(quantifier, operator, if_exists, key, _condition_values(values, where))
            )
    return tuple(conditions)


def _parse_statement(raw: object, index: int) -> Statement:
    where = f"Statement[{index}]"
    if not isinstance(raw, dict):
        raise PolicyError(f"{where} must be an object")
    unknown = sorted(set(raw) - STATEMENT_KEYS)
    if unknown:
        raise PolicyError(f"{where}: unsupported key(s) {', '.join(unknown)}")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f'{where}.Effect must be "Allow" or "Deny"')
    for required in ("Action", "Resource"):
        if required not in raw:
            raise PolicyError(f"{where} has no {required}")
    actions = _strings(raw["Action"], f"{where}.Action")
    for action in actions:
        if action != "*" and not re.fullmatch(r"iot:[A-Za-z*?]+", action):
            raise PolicyError(f"{where}.Action {action!r} is not iot:<operation>")
    return Statement(
        effect=effect,
        actions=actions,
        resources=_strings(raw["Resource"], f"{where}.Resource"),
        conditions=_parse_conditions(raw.get("Condition", {}), where),
    )


def _parse_document(document: Mapping[str, Any]) -> tuple[Statement, ...]:
    if document.get("Version") != POLICY_VERSION:
        raise PolicyError(f'Version must be "{POLICY_VERSION}"')
    unknown = sorted(set(document) - {"Version", "Statement", "Id"})
    if unknown:
        raise PolicyError(f"unsupported top-level key(s) {', '.join(unknown)}")
    raw = document.get("Statement")
    statements = [raw] if isinstance(raw, dict) else raw
    if not isinstance(statements, list) or not statements:
        raise PolicyError("Statement must be an object or a non-empty list")
    return tuple(_parse_statement(s, i) for i, s in enumerate(statements))


@dataclass(frozen=True)
class Policy:
    """A named, validated policy. Constructing one validates `document` (PolicyError)."""

    name: str
    document: Mapping[str, Any]
    statements: tuple[Statement, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if not POLICY_NAME.fullmatch(self.name):
            raise PolicyError(f"policy name {self.name!r} must match [\\w+=,.@-]{{1,128}}")
        if not isinstance(self.document, Mapping):
            raise PolicyError("policy document must be a JSON object")
        object.__setattr__(self, "statements", _parse_document(self.document))


def parse_policy(name: str, document: str | Mapping[str, Any]) -> Policy:
    """Parse and validate a policy document given as JSON text or as a parsed object."""
    if isinstance(document, str):
        text = document
        try:
            parsed = json.loads(text)
        except ValueError as err:
            raise PolicyError(f"policy document is not valid JSON: {err}") from None
    else:
        try:
            parsed, text = document, json.dumps(document)
        except (TypeError, ValueError) as err:
            raise PolicyError(f"policy document is not JSON data: {err}") from None
    if not isinstance(parsed, dict):
        raise PolicyError("policy document must be a JSON object")
    if len(re.sub(r"\s", "", text)) > MAX_DOCUMENT_CHARS:
        raise PolicyError(f"policy document exceeds {MAX_DOCUMENT_CHARS} characters")
    return Policy(name=name, document=parsed)


# ---------------------------------------------------------------- evaluation


def _value_matches(operator: str, actual: str, expected: str, principal: Principal) -> bool:
    if operator in ("StringLike", "StringNotLike", "ArnLike", "ArnNotLike"):
        pattern = resolve_pattern(expected, principal)
        return pattern is not None and glob_matches(pattern, actual)
    resolved = resolve_pattern(expected, principal)
    if resolved is None:
        return False
    literal = "".join(t if isinstance(t, str) else t.value for t in resolved)
    if operator in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        return actual.casefold() == literal.casefold()
    if operator == "Bool":
        return actual.lower() == literal.lower()
    return actual == literal


def condition_holds(condition: Condition, principal: Principal) -> bool:
    """IAM semantics: values OR'ed; a missing key fails unless negated, IfExists or ForAllValues."""
    actual = variable_values(condition.key, principal)
    if condition.operator == "Null":
        return (actual is None) == (condition.values[0].lower() == "true")
    negated = "Not" in condition.operator
    if actual is None:
        return condition.if_exists or negated or condition.quantifier == "ForAllValues"

    def matches(value: str) -> bool:
        hit = any(
            _value_matches(condition.operator, value, expected, principal)
            for expected in condition.values
        )
        return not hit if negated else hit

    if condition.quantifier == "ForAllValues":
        return all(matches(v) for v in actual)
    if negated and condition.quantifier is None:
        return all(matches(v) for v in actual)
    return any(matches(v) for v in actual)


def statement_applies(statement: Statement, principal: Principal) -> bool:
    """Conditions depend only on the principal: all must hold."""
    return all(condition_holds(c, principal) for c in statement.conditions)


def action_matches(statement: Statement, action: str) -> bool:
    """Action names are case-insensitive (§3.5 inference, as in IAM)."""
    return any(glob_matches(glob_of(a), action, ignore_case=True) for a in statement.actions)


def resource_matches(statement: Statement, resource: str, principal: Principal) -> bool:
    for pattern in statement.resources:
        resolved = resolve_pattern(pattern, principal)
        if resolved is not None and glob_matches(resolved, resource):
            return True
    return False


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # "explicit deny by <policy>", "allowed by <policy>", "no policy allows"


def _matching(
    policies: Sequence[Policy], effect: str, action: str, resource: str, principal: Principal
) -> Policy | None:
    for policy in policies:
        for statement in policy.statements:
            if (
                statement.effect == effect
                and action_matches(statement, action)
                and resource_matches(statement, resource, principal)
                and statement_applies(statement, principal)
            ):
                return policy
    return None


def authorize(
    policies: Sequence[Policy], action: str, resource: str, principal: Principal
) -> Decision:
    denier = _matching(policies, "Deny", action, resource, principal)
    if denier is not None:
        return Decision(False, f"explicit deny by {denier.name}")
    allower = _matching(policies, "Allow", action, resource, principal)
    if allower is not None:
        return Decision(True, f"allowed by {allower.name}")
    return Decision(False, "no policy allows")


# ---------------------------------------------------------------- MQTT topics


def validate_topic(topic: str) -> None:
    if not topic or "+" in topic or "#" in topic or "\x00" in topic:
        raise ValueError(f"invalid MQTT topic name {topic!r}")


def validate_filter(topic_filter: str) -> None:
    levels = topic_filter.split("/")
    if not topic_filter or "\x00" in topic_filter:
        raise ValueError(f"invalid MQTT topic filter {topic_filter!r}")
    for i, level in enumerate(levels):
        if ("#" in level and (level != "#" or i != len(levels) - 1)) or (
            "+" in level and level != "+"
        ):
            raise ValueError(f"invalid MQTT topic filter {topic_filter!r}")


def topic_matches_filter(topic: str, topic_filter: str) -> bool:
    """MQTT 3.1.1 matching as mosquitto does it: `a/#` matches `a`; `+` matches an empty
    level; a filter starting with a wildcard never matches a `$` topic (MQTT 4.7.2).

    Ours: the guide's "`Sensor/#` does not match `Sensor`" (§2.6) is not followed, because the
    real broker delivers by MQTT rules.
    """
    validate_topic(topic)
    validate_filter(topic_filter)
    return _levels_match(topic.split("/"), topic_filter.split("/"))


def _levels_match(topic: list[str], flt: list[str]) -> bool:
    if topic[0].startswith("$") and flt[0] in ("+", "#"):
        return False
    for i, level in enumerate(flt):
        if level == "#":
            return True
        if i >= len(topic) or (level != "+" and level != topic[i]):
            return False
    return len(topic) == len(flt)


# ---------------------------------------------------------------- reserved topics (§2.7)

Operation = Literal["publish", "subscribe", "receive"]

_SHADOW_OPS = ("update", "get", "delete")
_PUBLISHABLE = (
    *(f"$aws/things/+/shadow/{op}" for op in _SHADOW_OPS),
    "$aws/things/+/jobs/get",
    "$aws/things/+/jobs/start-next",
    "$aws/things/+/jobs/+/get",
    "$aws/things/+/jobs/+/update",
)
_SUBSCRIBABLE = (
    *_PUBLISHABLE,
    *(f"$aws/things/+/shadow/{op}/{r}" for op in _SHADOW_OPS for r in ("accepted", "rejected")),
    "$aws/things/+/shadow/update/delta",
    "$aws/things/+/shadow/update/documents",
    "$aws/things/+/jobs/notify",
    "$aws/things/+/jobs/notify-next",
    *(
        f"$aws/things/+/jobs/{op}/{r}"
        for op in ("get", "start-next")
        for r in ("accepted", "rejected")
    ),
    *(
        f"$aws/things/+/jobs/+/{op}/{r}"
        for op in ("get", "update")
        for r in ("accepted", "rejected")
    ),
    "$aws/events/#",
)
# Wildcard subscriptions: the guide itself suggests `jobs/get/#` and only advises against
# `shadow/#` (§1.7), so a `$` filter inside these namespaces is allowed (ours).
WILDCARD_NAMESPACES = ("$aws/things/+/shadow/#", "$aws/things/+/jobs/#", "$aws/events/#")
RESERVED_PATTERNS: dict[Operation, tuple[str, ...]] = {
    "publish": _PUBLISHABLE,
    "subscribe": _SUBSCRIBABLE,
    "receive": _SUBSCRIBABLE,
}


def _pattern_covers(pattern: list[str], flt: list[str]) -> bool:
    """Every topic `flt` can match is matched by `pattern` (`+`: any one level, `#`: the rest)."""
    for i, p in enumerate(pattern):
        if p == "#":
            return True
        if i >= len(flt) or flt[i] == "#" or (p != "+" and p != flt[i]):
            return False
    return len(flt) == len(pattern)


def reserved_topic_allowed(topic: str, operation: Operation) -> bool:
    """Whether a device may use this `$` topic (or, to subscribe, `$` filter); other topics: True.

    The guide's table (shadow, presence/subscription events) plus the Jobs and `$aws/events`
    topics it documents elsewhere (§2.7, spec-shadow-jobs §3.2 item 11); a wildcard `$` filter
    must stay inside the shadow, jobs or events namespace. Thing names are one level; which
    thing is the policy's business.
    """
    if not topic.startswith("$"):
        return True
    levels = topic.split("/")
    wildcard = "+" in levels or "#" in levels
    patterns = (
        WILDCARD_NAMESPACES
        if operation == "subscribe" and wildcard
        else RESERVED_PATTERNS[operation]
    )
    return any(_pattern_covers(p.split("/"), levels) for p in patterns)
