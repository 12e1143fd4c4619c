"""The fleet-indexing query language (rig/cloud/indexing/query.py): the guide's example queries,
bad queries, and a property test of parser + evaluator against an independent oracle."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rig.cloud.indexing import query as q


def document(**fields: Any) -> q.Document:
    doc = q.Document()
    for name, value in fields.items():
        doc.add(name.replace("__", "."), value)
    return doc


MYTHING2 = document(
    thingName="mything2",
    thingTypeName="MyThingType",
    thingGroupNames=["mygroup1", "mygroup2"],
    attributes={"model": "1.2", "country": "usa", "myAttribute": "77", "serialNumber": "abce"},
    shadow={
        "reported": {"location": "new york", "myvalues": [1, 2, 3], "stats": {"battery": 78}},
        "desired": {"location": "new york", "myvalues": [3, 4, 5]},
        "hasDelta": True,
    },
)


def hits(text: str, doc: q.Document = MYTHING2) -> bool:
    return q.matches(q.parse(text), doc)


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # the AWS IoT developer guide's "Example queries", on the guide's mything2
        ("thingName:mything2", True),
        ("thingName:MYTHING2", True),  # search is case-insensitive
        ("thingName:my*", True),
        ("thingName:mything?", True),
        ("thingName:myth?", False),
        ("attributes.myAttribute:77", True),
        ("attributes.myAttribute:[75 TO 80]", True),
        ("attributes.myAttribute:{75 TO 77}", False),  # Lucene: both ends exclusive
        ("attributes.myAttribute:{75 TO 77]", True),
        ('attributes.serialNumber["abcd" TO "abcf"]', True),
        ('attributes.serialNumber:["abcf" TO "abcz"]', False),
        ("attributes.myAttribute:7*", True),
        ("shadow.hasDelta:true", True),
        ("-attributes.model:legacy", True),
        ("NOT attributes.model:1.2", False),
        ("shadow.reported.stats.battery:(>70 AND <100)", True),
        ("shadow.reported.stats.battery:(>70 AND <78)", False),
        ("shadow.reported.stats.battery>=78", True),
        ("shadow.reported.stats.battery<=77", False),
        ("shadow.reported.myvalues:2", True),
        ("shadow.desired.myvalues:2", False),
        ("shadow.reported.location:* NOT shadow.desired.stats.battery:*", True),
        ("shadow.reported.stats:*", True),  # an object path exists
        ('shadow.reported.location:"new york"', True),
        ('shadow.reported.location:"new"', False),  # values are matched whole
        ("usa", True),  # no field: any registry or shadow value
        ("mygroup2", True),
        ("canada", False),
        ("thingGroupNames:mygroup1 AND thingTypeName:MyThingType", True),
        ("thingName:abc OR thingTypeName:mythingtype", True),
        ("thingName:abc thingTypeName:MyThingType", False),  # the default operator is AND
        ("(thingName:abc OR thingName:mything2) AND attributes.country:usa", True),
        ("thingName:(mything* AND -plasma)", True),
        ("*", True),
        ("thingName:*2", True),  # one leading wildcard is allowed
        ("attributes.attr1:abc AND attributes.attr2<5 NOT attributes.attr3>10", False),
        ("shadow.reported.temperature>20 AND attributes.room_number:*", False),
    ],
)
def test_guide_examples(text: str, expected: bool) -> None:
    assert hits(text) is expected


def test_the_workshops_queries() -> None:
    warm = document(
        thingName="bulky7",
        attributes={"room_number": "107"},
        shadow={"reported": {"temperature": 23}},
    )
    cold = document(
        thingName="bulky8",
        attributes={"room_number": "108"},
        shadow={"reported": {"temperature": 19}},
    )
    query = q.parse("shadow.reported.temperature>20 AND attributes.room_number:*")
    assert q.matches(query, warm) and not q.matches(query, cold)
    assert q.matches(q.parse("thingName:bulky*"), cold)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "thingName:(abc",
        "thingName:abc)",
        "thingName:",
        "AND thingName:abc",
        "thingName:abc OR",
        'thingName:"abc',
        "attributes.a:[1 TO",
        "attributes.a:[1 2]",
        "attributes.a:[1* TO 5]",
        "thingName:a@b",  # unsupported special characters (guide)
        "thingName:a;b",
        "thingName:*a AND thingGroupNames:*b",  # one leading wildcard per query
        " ".join(f"attributes.a{i}:x" for i in range(13)),  # at most 12 terms
        "thingName:(attributes.x:1)",
        "<5",
        "abc\\",
    ],
)
def test_bad_queries_raise_a_syntax_error(text: str) -> None:
    with pytest.raises(q.QuerySyntaxError):
        q.parse(text)


def test_escaped_special_characters_are_literal() -> None:
    doc = document(attributes={"path": "a:b*c"})
    assert hits("attributes.path:a\\:b\\*c", doc)
    assert not hits("attributes.path:a\\:b\\*d", doc)


# ---------------------------------------------------------------- parser + evaluator vs oracle

FIELDS = ("thingName", "attributes.a", "attributes.b", "shadow.reported.t")
WORDS = ("ab", "ba", "aa", "b")


@dataclass(frozen=True)
class Eq:
    field: str
    value: str | int


@dataclass(frozen=True)
class Prefix:
    field: str
    prefix: str


@dataclass(frozen=True)
class Exists:
    field: str


@dataclass(frozen=True)
class Between:
    field: str
    low: int
    high: int
    low_inclusive: bool
    high_inclusive: bool


@dataclass(frozen=True)
class Cmp:
    field: str
    op: str
    value: int


@dataclass(frozen=True)
class Neg:
    child: Any


@dataclass(frozen=True)
class All:
    children: tuple[Any, ...]
    implicit: bool


@dataclass(frozen=True)
class Any_:
    children: tuple[Any, ...]


leaves = st.one_of(
    st.builds(Eq, st.sampled_from(FIELDS), st.sampled_from(WORDS) | st.integers(-3, 3)),
    st.builds(Prefix, st.sampled_from(FIELDS), st.sampled_from(("a", "b"))),
    st.builds(Exists, st.sampled_from(FIELDS)),
    st.builds(
        Between,
        st.sampled_from(FIELDS),
        st.integers(-3, 3),
        st.integers(-3, 3),
        st.booleans(),
        st.booleans(),
    ),
    st.builds(
        Cmp, st.sampled_from(FIELDS), st.sampled_from(("<", ">", "<=", ">=")), st.integers(-3, 3)
    ),
)
trees = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(Neg, inner),
        st.builds(All, st.lists(inner, min_size=2, max_size=3).map(tuple), st.booleans()),
        st.builds(Any_, st.lists(inner, min_size=2, max_size=3).map(tuple)),
    ),
    max_leaves=6,
)
things = st.fixed_dictionaries(
    {},
    optional={
        name: st.lists(st.sampled_from(WORDS) | st.integers(-4, 4), min_size=1, max_size=2)
        for name in FIELDS
    },
)


def render(node: Any) -> str:
    if isinstance(node, Eq):
        return f"{node.field}:{node.value}"
    if isinstance(node, Prefix):
        return f"{node.field}:{node.prefix}*"
    if isinstance(node, Exists):
        return f"{node.field}:*"
    if isinstance(node, Between):
        opening = "[" if node.low_inclusive else "{"
        closing = "]" if node.high_inclusive else "}"
        return f"{node.field}:{opening}{node.low} TO {node.high}{closing}"
    if isinstance(node, Cmp):
        return f"{node.field}{node.op}{node.value}"
    if isinstance(node, Neg):
        return f"NOT ({render(node.child)})"
    if isinstance(node, All):
        glue = " " if node.implicit else " AND "
        return glue.join(f"({render(c)})" for c in node.children)
    return " OR ".join(f"({render(c)})" for c in node.children)


def oracle(node: Any, thing: dict[str, list[str | int]]) -> bool:
    """The meaning of the tree, written without the engine: words compare case-insensitively
    as whole values, integers compare as numbers, a word is never a number."""
    if isinstance(node, Neg):
        return not oracle(node.child, thing)
    if isinstance(node, All):
        return all(oracle(c, thing) for c in node.children)
    if isinstance(node, Any_):
        return any(oracle(c, thing) for c in node.children)
    values = thing.get(node.field, [])
    if isinstance(node, Exists):
        return bool(values)
    if isinstance(node, Eq):
        return any(type(v) is type(node.value) and v == node.value for v in values)
    if isinstance(node, Prefix):
        return any(isinstance(v, str) and v.startswith(node.prefix) for v in values)
    numbers = [v for v in values if isinstance(v, int)]
    if isinstance(node, Cmp):
        compare = {
            "<": lambda v: v < node.value,
            ">": lambda v: v > node.value,
            "<=": lambda v: v <= node.value,
            ">=": lambda v: v >= node.value,
        }[node.op]
        return any(compare(v) for v in numbers)
    return any(
        (node.low < v or (node.low_inclusive and v == node.low))
        and (v < node.high or (node.high_inclusive and v == node.high))
        for v in numbers
    )


@settings(max_examples=400, deadline=None)
@given(trees, things)
def test_parser_and_evaluator_agree_with_the_oracle(node: Any, thing: dict[str, Any]) -> None:
    doc = q.Document()
    for name, values in thing.items():
        for value in values:
            doc.add(name, value)
    assert q.matches(q.parse(render(node)), doc) is oracle(node, thing)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='ab:*?()[]{}"<>=- \\TOANDRN0123', max_size=30))
def test_any_text_parses_or_raises_a_syntax_error(text: str) -> None:
    try:
        node = q.parse(text)
    except q.QuerySyntaxError:
        return
    q.matches(node, MYTHING2)  # a tree that parsed evaluates without error
