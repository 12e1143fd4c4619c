"""The rules SQL subset: the guide's examples (AWS IoT SQL Reference and the rule tutorials),
its semantics (Undefined, conversions, WHERE first) and properties of the evaluator."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rig.cloud.rules import sql
from rig.cloud.rules.evaluate import Fired, run, substitute
from rig.cloud.rules.functions import Message

COLOR = {"color": "red", "temperature": 50}
TV18 = {
    "deviceid": "iot123",
    "temp": 54.98,
    "humidity": 32.43,
    "coords": {"latitude": 47.615694, "longitude": -122.3359976},
}
SENML = {
    "e": [
        {"n": "temperature", "u": "Cel", "t": 1234, "v": 22.5},
        {"n": "light", "u": "lm", "t": 1235, "v": 135},
        {"n": "acidity", "u": "pH", "t": 1235, "v": 7},
    ]
}


def _message(topic: str, document: Any, client_id: str | None = "c1") -> Message:
    payload = document if isinstance(document, bytes) else json.dumps(document).encode()
    return Message(topic, client_id, 1481825251155, payload)


def evaluate(text: str, document: Any, topic: str = "a/b") -> Any:
    fired = run(sql.parse(text), _message(topic, document))
    return None if fired is None else fired.result


@pytest.mark.parametrize(
    ("text", "document", "expected"),
    [
        # TV-13
        (
            "SELECT color AS rgb FROM 'a/b' WHERE temperature > 50",
            {"color": "red", "temperature": 100},
            {"rgb": "red"},
        ),
        (
            "SELECT color AS my_color FROM 'a/b' WHERE temperature > 50 AND color <> 'red'",
            {"color": "red", "temperature": 40},
            None,
        ),
        # TV-14
        ("SELECT * FROM 'a/b'", COLOR, COLOR),
        (
            "SELECT color as my_color, temperature as farenheit FROM 'a/b'",
            COLOR,
            {"my_color": "red", "farenheit": 50},
        ),
        ("SELECT *, 15 as speed FROM 'a/b'", COLOR, {**COLOR, "speed": 15}),
        ("SELECT VALUE color FROM 'a/b'", COLOR, "red"),
        (
            "SELECT (temperature - 32) * 5 / 9 AS celsius, upper(color) AS my_color FROM 'a/b'",
            COLOR,
            {"celsius": 10, "my_color": "RED"},
        ),
        (
            "SELECT color.red as red_value FROM 'a/b'",
            {"color": {"red": 255, "green": 0, "blue": 0}, "temperature": 50},
            {"red_value": 255},
        ),
        # TV-16
        (
            "SELECT CASE color WHEN 'green' THEN 'go' WHEN 'yellow' THEN 'caution' WHEN 'red' THEN 'stop' ELSE 'you are not at a stop light' END as instructions FROM 'a/b'",
            {"color": "yellow"},
            {"instructions": "caution"},
        ),
        # TV-17
        (
            "SELECT (SELECT v FROM e WHERE n = 'temperature') as temperature FROM 'a/b'",
            SENML,
            {"temperature": [{"v": 22.5}]},
        ),
        ("SELECT VALUE arr FROM 'a/b'", {"a": {"b": "c"}, "arr": [1, 2, 3, 4]}, [1, 2, 3, 4]),
        # TV-18, with the guide's bare `FROM topic/#`
        (
            "SELECT temp, md5(deviceid) AS hashed_id FROM topic/#",
            TV18,
            {"temp": 54.98, "hashed_id": "e37f81fb397e595c4aeb5645b8cbbbd1"},
        ),
        # the JITR workshop's rule: a double-quoted string
        (
            "SELECT * FROM '$aws/events/certificates/registered/#' WHERE certificateStatus = \"PENDING_ACTIVATION\"",
            {"certificateStatus": "PENDING_ACTIVATION"},
            {"certificateStatus": "PENDING_ACTIVATION"},
        ),
        (
            "SELECT * FROM '$aws/events/certificates/registered/#' WHERE certificateStatus = \"PENDING_ACTIVATION\"",
            {"certificateStatus": "ACTIVE"},
            None,
        ),
        # Undefined keys are dropped; null is kept
        ("SELECT foo, bar FROM 'a/b'", {"foo": None}, {"foo": None}),
        ("SELECT * FROM 'a/b' WHERE NOT (temperature < 10) AND color = 'red'", COLOR, COLOR),
        # an Undefined operand makes OR Undefined (§ Operators), and WHERE Undefined is not true
        ("SELECT * FROM 'a/b' WHERE missing = 1 OR temperature = 50", COLOR, None),
        ("SELECT * FROM 'a/b' WHERE temperature > '40'", COLOR, COLOR),  # strings convert
        ("SELECT * FROM 'a/b' WHERE temperature = '50'", COLOR, None),  # = is strict
        (
            "SELECT {'a': temperature, 'b': [1, color]} AS o FROM 'a/b'",
            COLOR,
            {"o": {"a": 50, "b": [1, "red"]}},
        ),
    ],
)
def test_the_guides_examples(text: str, document: Any, expected: Any) -> None:
    assert evaluate(text, document) == expected


def test_topic_functions_on_a_reserved_topic() -> None:
    # TV-20, and § Functions: topic() and topic(1) of things/myThings/thingOne
    shadow = "$aws/things/MySNSThing/shadow/update/accepted"
    text = "SELECT *, topic(3) as thing FROM '$aws/things/+/shadow/update/accepted'"
    assert evaluate(text, {"state": {}}, shadow) == {"state": {}, "thing": "MySNSThing"}
    text = "SELECT topic() AS t, topic(1) AS first, topic(9) AS none FROM 'things/#'"
    assert evaluate(text, {}, "things/myThings/thingOne") == {
        "t": "things/myThings/thingOne",
        "first": "things",
    }


def test_clientid_and_timestamp() -> None:
    text = "SELECT clientid() AS c, timestamp() AS ts FROM 'a/b'"
    assert evaluate(text, {}) == {"c": "c1", "ts": 1481825251155}
    fired = run(sql.parse(text), _message("a/b", {}, client_id=None))
    assert fired == Fired({"ts": 1481825251155})  # the publisher unknown: Undefined


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("get(['a', 'b', 'c'], 1)", "b"),
        ("get({'a': 'b'}, 'a')", "b"),
        ("get('abc', 1)", "b"),
        ("concat('con', 'cat')", "concat"),
        ("concat([1, 2, 3], 4)", [1, 2, 3, 4]),
        ("substring('012345', 2)", "2345"),
        ("substring('012345', 1, 3)", "12"),
        ("substring('012345', 3, 1)", ""),
        ("lower('HELLO')", "hello"),
        ("length('hi')", 2),
        ("numbytes('€')", 3),
        ("indexof('abcd', 'bc')", 1),
        ("startswith('ranger', 'ran')", True),
        ("endswith('cat', 'at')", True),
        ("md5('hello')", "5d41402abc4b2a76b9719d911017c592"),
        ("md2('hello')", "a9046c73e00331af68917d3804f70655"),
        # § Functions, parse_time (Joda-Time patterns; the zone's name at that instant)
        (
            """parse_time("yyyy.MM.dd G 'at' HH:mm:ss z", 100000000, "America/Belize")""",
            "1970.01.01 AD at 21:46:40 CST",
        ),
        ("cast(true as Decimal)", 1.0),
        ("abs(-5)", 5),
        ("mod(8, 3)", 2),
        ("round(1.5)", 2),
        ("round(-1.5)", -2),
        ("bitand(13, 5)", 5),
        ("bitor(8, 5)", 13),
        ("sign(-7)", -1),
        ("power(2, 5)", 32.0),
        ("trunc(2.888, 2)", 2.88),
        ("trunc(2.888, 100000000000)", 2.888),  # digits clamped to 34
        ("isNull(null)", True),
        ("isUndefined(5)", False),
        ("regexp_replace('abcd', 'b(.*)d', '$1')", "ac"),
        ("regexp_substr('hihihello', '(hi)*')", "hihi"),
        ("regexp_matches('aaaa', 'a{2,}')", True),
    ],
)
def test_the_guides_function_examples(expression: str, expected: Any) -> None:
    assert evaluate(f"SELECT VALUE {expression} FROM 'a/b'", {}) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (
            "parse_time(\"yyyy-MM-dd'T'HH:mm:ss.SSSZ\", 1481825251155)",
            "2016-12-15T18:07:31.155+0000",
        ),
        (
            "parse_time('EEE, d MMM yy hh:mm a ZZ', 1481825251155, 'Asia/Kolkata')",
            "Thu, 15 Dec 16 11:37 PM +05:30",
        ),
        ("parse_time('EEEE MMMM D', 0)", "Thursday January 1"),
        ("parse_time(\"''yyyy''\", 0)", "'1970'"),
        ("parse_time('yyyy', '86400000')", "1970"),  # a numeric string converts
        ("parse_time('yyyy', 0, 'Nowhere/Atlantis')", None),  # unknown zone
        ("parse_time('yyyy qq', 0)", None),  # a pattern letter Joda does not have
        ('parse_time("yyyy \'open", 0)', None),  # an unclosed quote
        ("parse_time('yyyy', 'soon')", None),
        ("parse_time('yyyy')", None),
        # RFC 1319's test suite
        ("md2('')", "8350e5a3e24c153df2275c9f80692773"),
        ("md2('abc')", "da853b0d3f88d99b30283a69e6ded6bb"),
        (f"md2('{'1234567890' * 8}')", "d5976f79d83d3a0dc9806c3c66f3efd8"),
    ],
)
def test_parse_time_and_md2(expression: str, expected: Any) -> None:
    assert evaluate(f"SELECT VALUE {expression} FROM 'a/b'", {}) == expected


def test_arithmetic_that_has_no_answer_is_undefined() -> None:
    assert evaluate("SELECT 0 % 0 AS m, 1 / 0 AS d, 1.5 % 0 AS f FROM 'a/b'", {}) == {}
    assert evaluate("SELECT n - 1 AS n FROM 'a/b'", {"n": "9" * 5000}) == {}


def test_select_value_of_something_undefined_gives_no_output() -> None:
    assert evaluate("SELECT VALUE missing FROM 'a/b'", {"color": "red"}) is None
    assert evaluate("SELECT VALUE a % 7 FROM 'a/b'", {"a": []}) is None


def test_select_star_is_any_json_message_as_it_came() -> None:
    assert evaluate("SELECT * FROM 'a/b'", [1, {"a": 2}]) == [1, {"a": 2}]
    assert evaluate("SELECT * FROM 'a/b'", "text") == "text"


def test_a_binary_payload_passes_select_star() -> None:
    assert evaluate("SELECT * FROM 'a/b'", b"\x00\xffraw") == b"\x00\xffraw"
    assert evaluate("SELECT * FROM 'a/b' WHERE timestamp() > 0", b"\x00") == b"\x00"


def test_substitution_templates() -> None:
    message = _message("my/iot/topic", TV18)
    assert substitute("${topic()}/republish", message) == "my/iot/topic/republish"
    assert substitute("$$aws/things/${topic(2)}/shadow/update", message) == (
        "$aws/things/iot/shadow/update"
    )
    assert substitute("${deviceid}-${coords.latitude}", message) == "iot123-47.615694"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "SELECT",
        "SELECT * FROM",
        "SELECT * 'a/b'",
        "SELECT * FROM 'a/b' WHERE",
        "SELECT nosuch(x) FROM 'a/b'",
        "SELECT CASE x END FROM 'a/b'",
        "SELECT a FROM 'a/b' extra",
        "SELECT a FROM 'a/b' WHERE (a = 1",
        "SELECT 'unterminated FROM 'a/b'",
        "DELETE FROM 'a/b'",
        "SELECT * FROM 'a/#/b'",
        "SELECT * FROM 'a/b+'",
        "SELECT * FROM ''",
    ],
)
def test_malformed_sql_is_refused(text: str) -> None:
    with pytest.raises(sql.SqlError):
        sql.parse(text)


@given(st.text(max_size=60))
def test_the_parser_answers_any_text_with_a_query_or_sql_error(text: str) -> None:
    try:
        sql.parse(text)
    except sql.SqlError:
        pass


JSON_SCALARS = st.none() | st.booleans() | st.integers(-(10**9), 10**9) | st.text(max_size=8)
DOCUMENTS = st.dictionaries(
    st.from_regex(r"[a-z]{1,6}", fullmatch=True),
    st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=3), max_leaves=6),
    max_size=5,
)


@given(DOCUMENTS)
def test_select_star_gives_the_message_and_a_false_where_gives_nothing(document: Any) -> None:
    assert evaluate("SELECT * FROM 'a/b'", document) == document
    assert evaluate("SELECT * FROM 'a/b' WHERE 1 = 2", document) is None


@given(DOCUMENTS, st.from_regex(r"[a-z]{1,6}", fullmatch=True))
def test_a_field_is_its_value_or_left_out(document: Any, key: str) -> None:
    result = evaluate(f"SELECT {key} AS k FROM 'a/b'", document)
    assert result == ({"k": document[key]} if key in document else {})


@given(st.integers(-1000, 1000), st.integers(-1000, 1000))
def test_comparisons_agree_with_numbers_and_numeric_strings(a: int, b: int) -> None:
    document = {"a": a, "b": str(b)}
    assert evaluate("SELECT VALUE a < b FROM 'a/b'", document) is (a < b)
    assert evaluate("SELECT VALUE a = b FROM 'a/b'", document) is False  # Int vs String


ANY_JSON = st.recursive(
    JSON_SCALARS | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["color", "temperature", "e", "n", "v", "a"]), inner)
    ),
    max_leaves=8,
)
STATEMENTS = [
    "SELECT color AS rgb FROM 'a/b' WHERE temperature > 50",
    "SELECT (temperature - 32) * 5 / 9 AS celsius, upper(color) AS my_color FROM 'a/b'",
    "SELECT CASE color WHEN 'red' THEN 'stop' ELSE 'go' END AS x FROM 'a/b'",
    "SELECT (SELECT v FROM e WHERE n = 'temperature') AS t FROM 'a/b'",
    "SELECT *, concat(color, temperature) AS c, get(e, 0) AS g FROM 'a/b' WHERE NOT a",
    "SELECT VALUE temperature % 7 + substring(color, 1) FROM 'a/b' WHERE a <> e OR a = 1",
]


@given(st.sampled_from(STATEMENTS), ANY_JSON)
def test_the_evaluator_answers_any_document(text: str, document: Any) -> None:
    fired = run(sql.parse(text), _message("a/b", document))
    if fired is not None:
        json.dumps(fired.result)  # the result is JSON (what the actions send)


CALLED = (
    "upper length abs concat get substring md5 isUndefined cast mod power sqrt round trunc"
    " bitand sign floor regexp_matches regexp_replace startswith indexof encode"
).split()


def _expressions() -> st.SearchStrategy[str]:
    """SQL expressions of the supported subset, as text."""
    leaves = st.one_of(
        st.integers(-100, 100).map(str),
        st.sampled_from(["'red'", "'5'", '"x"', "true", "null", "1.5"]),
        st.sampled_from(["color", "temperature", "e", "a", "e[0].v", "color.red"]),
        st.sampled_from(["topic()", "topic(1)", "timestamp()", "clientid()"]),
    )

    def compound(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        binary = st.tuples(
            inner,
            st.sampled_from(["+", "-", "*", "/", "%", "=", "<>", "<", ">=", "AND", "OR"]),
            inner,
        )
        calls = st.tuples(
            st.sampled_from(CALLED),
            st.lists(inner, min_size=1, max_size=2),
        )
        return st.one_of(
            binary.map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            inner.map(lambda e: f"(NOT {e})"),
            calls.map(
                lambda c: (
                    f"cast({c[1][0]} AS String)"
                    if c[0] == "cast"
                    else f"{c[0]}({', '.join(c[1])})"
                )
            ),
            st.tuples(inner, inner, inner).map(
                lambda t: f"CASE {t[0]} WHEN {t[1]} THEN {t[2]} END"
            ),
            st.lists(inner, max_size=2).map(lambda items: f"[{', '.join(items)}]"),
        )

    return st.recursive(leaves, compound, max_leaves=6)


@given(_expressions(), _expressions(), ANY_JSON, st.booleans())
def test_any_statement_of_the_subset_parses_and_evaluates(
    selected: str, condition: str, document: Any, value: bool
) -> None:
    text = f"SELECT {'VALUE ' if value else ''}{selected}{'' if value else ' AS k'} FROM 'a/+' WHERE {condition}"
    fired = run(sql.parse(text), _message("a/b", document))
    if fired is not None:
        json.dumps(fired.result)
