"""Translate a principal's IoT policies into a mosquitto 2.0 ACL block (never broader).

mosquitto 2.0.11 with `acl_file`, verified on /usr/sbin/mosquitto (docs/cloud-decisions.md):
SUBSCRIBE is always granted, `read` is checked when a message is delivered, `write` at PUBLISH;
`topic deny` lines are checked before any allow line, whatever their order, and deny both read and
write. So per concrete topic T:

* write T  ⇐ iot:Publish on topic/T, and T is a publishable reserved topic or not reserved;
* read T   ⇐ iot:Subscribe on topicfilter/T AND iot:Receive on topic/T (mosquitto cannot tell
  them apart: the intersection is the safe side), and T may be subscribed to.

Policy globs that MQTT filters cannot express exactly are narrowed (allow) or widened (deny), and
each such case is reported in `approximations`. iot:Connect is not part of the ACL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from rig.cloud.policies.engine import (
    RESERVED_PATTERNS,
    Glob,
    GlobToken,
    Policy,
    Principal,
    Wild,
    action_matches,
    glob_matches,
    resolve_pattern,
    statement_applies,
)

Access = Literal["read", "write"]
Filter = tuple[str, ...]  # MQTT filter split into levels


@dataclass
class AclResult:
    username: str
    lines: list[str] = field(default_factory=list)  # "topic read|write|readwrite|deny <filter>"
    approximations: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- MQTT filter algebra


def _is_dollar(level: str) -> bool:
    return level.startswith("$")


def _intersect(a: Filter, b: Filter) -> Filter | None:
    """The filter matching exactly the topics both match, or None if none (MQTT rules)."""
    if (
        a
        and b
        and (
            (a[0] in ("+", "#") and _is_dollar(b[0])) or (b[0] in ("+", "#") and _is_dollar(a[0]))
        )
    ):
        return None
    out: list[str] = []
    i = 0
    while True:
        if i < len(a) and a[i] == "#":
            return (*out, *b[i:])
        if i < len(b) and b[i] == "#":
            return (*out, *a[i:])
        if i == len(a) or i == len(b):
            return tuple(out) if len(a) == len(b) else None
        x, y = a[i], b[i]
        if x == "+":
            out.append(y)
        elif y == "+" or x == y:
            out.append(x)
        else:
            return None
        i += 1


def _covers(outer: Filter, inner: Filter) -> bool:
    """Every topic `inner` matches is matched by `outer`."""
    if outer and inner and outer[0] in ("+", "#") and _is_dollar(inner[0]):
        return False
    for i, level in enumerate(outer):
        if level == "#":
            return True
        if i >= len(inner) or inner[i] == "#" or (level != "+" and level != inner[i]):
            return False
    return len(inner) == len(outer)


def _text(flt: Filter) -> str:
    return "/".join(flt)


# ---------------------------------------------------------------- glob → filters


def _residuals(pattern: Glob, prefix: str) -> list[Glob]:
    """The globs G such that `pattern` matches prefix+T exactly when some G matches T."""
    states = _closure(pattern, {0})
    for ch in prefix:
        step: set[int] = set()
        for i in states:
            if i < len(pattern):
                token = pattern[i]
                if token is Wild.STAR:
                    step.add(i)
                elif token is Wild.ONE or token == ch:
                    step.add(i + 1)
        states = _closure(pattern, step)
        if not states:
            return []
    return [pattern[i:] for i in sorted(states)]


def _closure(pattern: Glob, states: set[int]) -> set[int]:
    out = set(states)
    for i in states:
        j = i
        while j < len(pattern) and pattern[j] is Wild.STAR:
            j += 1
            out.add(j)
    return out


def _levels(pattern: Glob) -> list[list[GlobToken]]:
    levels: list[list[GlobToken]] = [[]]
    for token in pattern:
        if token == "/":
            levels.append([])
        else:
            levels[-1].append(token)
    return levels


def _literal(level: list[GlobToken]) -> str | None:
    return (
        "".join(t for t in level if isinstance(t, str))
        if all(isinstance(t, str) for t in level)
        else None
    )


def _can_start_with_dollar(level: list[GlobToken]) -> bool:
    return bool(level) and (level[0] == "$" or isinstance(level[0], Wild))


def _show(pattern: Glob) -> str:
    return "".join(t.value if isinstance(t, Wild) else t for t in pattern)


def filters_within(pattern: Glob, notes: list[str], what: str) -> list[Filter]:
    """MQTT filters matching only topics the glob matches (allow side: narrower or equal)."""
    if any(t in ("+", "#", "\x00") for t in pattern) or not pattern:
        return []  # no valid topic name contains these: the glob allows nothing (exact)
    levels = _levels(pattern)
    heads: list[list[str]] = [[]]
    for index, level in enumerate(levels):
        last = index == len(levels) - 1
        literal = _literal(level)
        if literal is not None:
            for head in heads:
                head.append(literal)
            continue
        if level == [Wild.STAR] and last:
            tail = ["#"] if index == 0 else ["+", "#"]
            dollar = [["$aws", "#"]] if index == 0 else []
            return [tuple(h + tail) for h in heads] + [tuple(d) for d in dollar]
        if level == [Wild.STAR]:
            notes.append(f"{what} {_show(pattern)!r}: '*' spanning levels narrowed to '+'")
            alternatives = ["+", "$aws"] if index == 0 else ["+"]
            heads = [[*h, alt] for h in heads for alt in alternatives]
            continue
        if last and level[-1] is Wild.STAR and all(isinstance(t, str) for t in level[:-1]):
            notes.append(
                f"{what} {_show(pattern)!r}: 'prefix*' narrowed to 'prefix' and 'prefix/#'"
            )
            stem = "".join(t for t in level[:-1] if isinstance(t, str))
            return [tuple([*h, stem, "#"]) for h in heads]
        notes.append(f"{what} {_show(pattern)!r}: not expressible as an MQTT filter, left out")
        return []
    return [tuple(h) for h in heads]


def filters_covering(pattern: Glob) -> list[Filter]:
    """MQTT filters matching every valid topic the glob matches (deny side: broader or equal)."""
    if any(t in ("+", "#", "\x00") for t in pattern) or not pattern:
        return []
    levels = _levels(pattern)
    head: list[str] = []
    extra: list[Filter] = []
    for index, level in enumerate(levels):
        literal = _literal(level)
        if literal is not None:
            head.append(literal)
            continue
        if index == 0 and _can_start_with_dollar(level):
            if Wild.STAR in level:
                extra.append(("$aws", "#"))  # `#` and `+` never match `$` topics
            elif glob_matches(tuple(level), "$aws"):
                extra.append(("$aws", *_rest_as_filter(levels[1:])))
        if Wild.STAR in level:
            return [(*head, "#"), *extra]
        head.append("+")  # only `?`: exactly one level
    return [tuple(head), *extra]


def _rest_as_filter(levels: list[list[GlobToken]]) -> list[str]:
    out: list[str] = []
    for level in levels:
        literal = _literal(level)
        if literal is not None:
            out.append(literal)
        elif Wild.STAR in level:
            return [*out, "#"]
        else:
            out.append("+")
    return out


# ---------------------------------------------------------------- policies → topic sets


_SPACE: dict[Access, list[Filter]] = {
    "write": [("#",), *(tuple(p.split("/")) for p in RESERVED_PATTERNS["publish"])],
    "read": [("#",), *(tuple(p.split("/")) for p in RESERVED_PATTERNS["subscribe"])],
}


@dataclass
class _TopicSet:
    allow: list[Filter] = field(default_factory=list)
    deny: list[Filter] = field(default_factory=list)


def _globs(
    policies: Sequence[Policy], principal: Principal, action: str, kind: str, effect: str
) -> list[Glob]:
    prefix = f"arn:aws:iot:{principal.region}:{principal.account}:{kind}/"
    out: list[Glob] = []
    for policy in policies:
        for statement in policy.statements:
            if statement.effect != effect or not action_matches(statement, action):
                continue
            if not statement_applies(statement, principal):
                continue
            for resource in statement.resources:
                resolved = resolve_pattern(resource, principal)
                if resolved is not None:
                    out.extend(_residuals(resolved, prefix))
    return out


def _topic_set(
    policies: Sequence[Policy],
    principal: Principal,
    action: str,
    kind: str,
    space: list[Filter],
    notes: list[str],
) -> _TopicSet:
    result = _TopicSet()
    for pattern in _globs(policies, principal, action, kind, "Allow"):
        for flt in filters_within(pattern, notes, f"{action} allow"):
            for region in space:
                both = _intersect(flt, region)
                if both is not None:
                    result.allow.append(both)
    for pattern in _globs(policies, principal, action, kind, "Deny"):
        result.deny.extend(filters_covering(pattern))
    return result


def _minimal(filters: Iterable[Filter]) -> list[Filter]:
    """Drop duplicates and filters another one covers; keep first-seen order."""
    unique = list(dict.fromkeys(filters))
    return [
        f
        for i, f in enumerate(unique)
        if not any(
            j != i and _covers(g, f) and (not _covers(f, g) or j < i) for j, g in enumerate(unique)
        )
    ]


def _without_denied(allow: list[Filter], deny: list[Filter]) -> tuple[list[Filter], list[Filter]]:
    """Allow filters not wholly denied, and the deny filters that still cut into them."""
    kept = [a for a in allow if not any(_covers(d, a) for d in deny)]
    needed = [d for d in deny if any(_intersect(d, a) is not None for a in kept)]
    return kept, needed


def acl_for(principal: Principal, policies: Sequence[Policy], username: str) -> AclResult:
    """The `user <username>` block for one certificate/thing."""
    _check_line_text(username, "username")
    notes: list[str] = []
    publish = _topic_set(policies, principal, "iot:Publish", "topic", _SPACE["write"], notes)
    subscribe = _topic_set(
        policies, principal, "iot:Subscribe", "topicfilter", _SPACE["read"], notes
    )
    receive = _topic_set(policies, principal, "iot:Receive", "topic", _SPACE["read"], notes)

    read_both = [
        both
        for s in subscribe.allow
        for r in receive.allow
        if (both := _intersect(s, r)) is not None
    ]
    return _block(
        username,
        write=(publish.allow, publish.deny),
        read=(read_both, subscribe.deny + receive.deny),
        notes=notes,
    )


def _block(
    username: str,
    write: tuple[list[Filter], list[Filter]],
    read: tuple[list[Filter], list[Filter]],
    notes: list[str],
) -> AclResult:
    """Render (allow, deny) filter lists per access as one user block."""
    notes = list(notes)
    write_allow, write_deny = _without_denied(_minimal(write[0]), write[1])
    read_allow, read_deny = _without_denied(_minimal(read[0]), read[1])
    # A deny the file cannot hold must not be lost: drop what it would have cut into instead.
    for deny in [d for d in write_deny + read_deny if not _safe_line_text(_text(d))]:
        notes.append(f"deny {_text(deny)!r}: not representable, allows it touches left out")
        write_allow = [a for a in write_allow if _intersect(deny, a) is None]
        read_allow = [a for a in read_allow if _intersect(deny, a) is None]
    write_deny = [d for d in write_deny if _safe_line_text(_text(d))]
    read_deny = [d for d in read_deny if _safe_line_text(_text(d))]

    # A mosquitto deny line denies read and write alike: note where that costs the other access.
    for denied, other, other_name in (
        (write_deny, read_allow, "receiving"),
        (read_deny, write_allow, "publishing"),
    ):
        for d in denied:
            if any(_intersect(d, a) is not None for a in other):
                notes.append(f"deny {_text(d)!r} also blocks {other_name} there")

    lines = [f"topic deny {_text(d)}" for d in _minimal(write_deny + read_deny)]
    for flt in dict.fromkeys(write_allow + read_allow):
        in_write, in_read = flt in write_allow, flt in read_allow
        access = "readwrite" if in_write and in_read else "write" if in_write else "read"
        if not _safe_line_text(_text(flt)):
            notes.append(f"{access} {_text(flt)!r}: not representable in an ACL file, left out")
            continue
        lines.append(f"topic {access} {_text(flt)}")
    return AclResult(username=username, lines=lines, approximations=notes)


def intersect_results(first: AclResult, second: AclResult) -> AclResult:
    """A block allowing exactly what both blocks allow (several certificates, one client id)."""
    if first.username != second.username:
        raise ValueError(
            f"cannot intersect ACL blocks of {first.username!r} and {second.username!r}"
        )
    a, b = _parse_lines(first.lines), _parse_lines(second.lines)
    deny = a["deny"] + b["deny"]

    def both(access: str) -> list[Filter]:
        return [f for x in a[access] for y in b[access] if (f := _intersect(x, y)) is not None]

    notes = [*first.approximations, *second.approximations]
    return _block(
        first.username, write=(both("write"), deny), read=(both("read"), deny), notes=notes
    )


def _parse_lines(lines: list[str]) -> dict[str, list[Filter]]:
    out: dict[str, list[Filter]] = {"read": [], "write": [], "deny": []}
    for line in lines:
        keyword, access, text = ([*line.split(" ", 2), "", ""])[:3]
        if keyword != "topic" or access not in ("read", "write", "readwrite", "deny") or not text:
            raise ValueError(f"not an ACL line of acl_for: {line!r}")
        for kind in ("read", "write") if access == "readwrite" else (access,):
            out[kind].append(tuple(text.split("/")))
    return out


def _safe_line_text(text: str) -> bool:
    # mosquitto trims blanks around the topic and reads one line per entry.
    return bool(text) and text == text.strip() and not any(c in text for c in "\r\n\x00")


def _check_line_text(value: str, what: str) -> None:
    if not _safe_line_text(value) or " " in value:
        raise ValueError(f"{what} {value!r} cannot appear in a mosquitto ACL file")


def render_acl_file(blocks: Iterable[AclResult], cloud_user: str) -> str:
    """The whole acl_file: the cloud user may use everything, then one block per device."""
    _check_line_text(cloud_user, "cloud user")
    out = [
        "# Generated by rig.cloud.acl from the IoT policies; do not edit.",
        f"user {cloud_user}",
        "topic readwrite #",
        "topic readwrite $aws/#",
        "topic readwrite $SYS/#",
    ]
    seen = {cloud_user}
    for block in blocks:
        _check_line_text(block.username, "username")
        if block.username in seen:
            raise ValueError(f"username {block.username!r} appears twice in the ACL")
        seen.add(block.username)
        out.append("")
        out.extend(f"# approximation: {note!r}" for note in block.approximations)
        out.append(f"user {block.username}")
        out.extend(block.lines)
    return "\n".join(out) + "\n"
