"""The shadow test vectors S1–S15 of spec-shadow-jobs.md §4, request/response text copied from it.

Timestamps: the engine takes `now`, so each step runs at the guide's own time. Where the guide's
examples come from different captures (§3.1 item 1) the cross-capture value is noted, not asserted.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from rig.cloud import shadow as sh


def body(text: str) -> bytes:
    return text.encode()


def stored(
    desired: Any = None, reported: Any = None, *, ts_d: int = 0, ts_r: int = 0, version: int = 1
) -> sh.Shadow:
    """A stored shadow built through the engine (so metadata is the engine's own)."""
    current: sh.Shadow | None = None
    if desired is not None:
        current = sh.update(
            current, json.dumps({"state": {"desired": desired}}).encode(), ts_d
        ).shadow
    if reported is not None:
        current = sh.update(
            current, json.dumps({"state": {"reported": reported}}).encode(), ts_r
        ).shadow
    assert current is not None
    current.version = version
    return current


def test_s1_create_by_first_reported_update() -> None:
    result = sh.update(None, body('{ "state": { "reported": { "color": "red" } } }'), 1469564492)
    assert result.accepted == json.loads("""
        { "state": { "reported": { "color": "red" } },
          "metadata": { "reported": { "color": { "timestamp": 1469564492 } } },
          "version": 1, "timestamp": 1469564492 }""")
    # The guide's documents example is a different capture (ts 1483467764): same shape.
    assert result.documents == json.loads("""
        { "previous": null,
          "current": { "state": { "reported": { "color": "red" } },
                       "metadata": { "reported": { "color": { "timestamp": 1469564492 } } },
                       "version": 1 },
          "timestamp": 1469564492 }""")
    assert result.delta is None


def s1_shadow() -> sh.Shadow:
    return sh.update(
        None, body('{ "state": { "reported": { "color": "red" } } }'), 1469564492
    ).shadow


def test_s2_get_after_s1() -> None:
    reply = sh.get(s1_shadow(), b"", 1469564571)
    assert reply == json.loads("""
        { "state": { "reported": { "color": "red" } },
          "metadata": { "reported": { "color": { "timestamp": 1469564492 } } },
          "version": 1, "timestamp": 1469564571 }""")
    assert "delta" not in reply["state"]


def s3_result() -> sh.UpdateResult:
    return sh.update(
        s1_shadow(), body('{ "state": { "desired": { "color": "green" } } }'), 1469564658
    )


def test_s3_desired_change_produces_delta() -> None:
    result = s3_result()
    assert result.accepted == json.loads("""
        { "state": { "desired": { "color": "green" } },
          "metadata": { "desired": { "color": { "timestamp": 1469564658 } } },
          "version": 2, "timestamp": 1469564658 }""")
    assert result.delta == json.loads("""
        { "version": 2, "timestamp": 1469564658,
          "state": { "color": "green" },
          "metadata": { "color": { "timestamp": 1469564658 } } }""")
    assert result.documents["previous"] == s1_shadow().document()
    assert result.documents["current"] == json.loads("""
        { "state": { "desired": { "color": "green" }, "reported": { "color": "red" } },
          "metadata": { "desired": { "color": { "timestamp": 1469564658 } },
                        "reported": { "color": { "timestamp": 1469564492 } } },
          "version": 2 }""")


def test_s4_device_reports_and_clears_desired() -> None:
    request = """{ "state": { "reported": { "color": "green" }, "desired": null } }"""
    result = sh.update(s3_result().shadow, body(request), 1469564801)
    assert result.accepted == json.loads("""
        { "state": { "reported": { "color": "green" }, "desired": null },
          "metadata": { "reported": { "color": { "timestamp": 1469564801 } },
                        "desired": { "timestamp": 1469564801 } },
          "version": 3, "timestamp": 1469564801 }""")
    assert result.delta is None
    assert sh.get(result.shadow, b"", 1469564864) == json.loads("""
        { "state": { "reported": { "color": "green" } },
          "metadata": { "reported": { "color": { "timestamp": 1469564801 } } },
          "version": 3, "timestamp": 1469564864 }""")


def test_s5_delete_then_get() -> None:
    tombstone, accepted = sh.delete(s1_shadow(), b"", 1488565234)
    assert set(accepted) == {"version", "timestamp"}
    assert isinstance(accepted["version"], int) and accepted["timestamp"] == 1488565234
    with pytest.raises(sh.ShadowError) as caught:
        sh.get(tombstone, b"", 1488565240)
    assert sh.error_document(caught.value, None, 1488565240) == {
        "code": 404,
        "message": "Thing not found",
        "timestamp": 1488565240,
    }


def test_s6_partial_nested_update_keeps_siblings() -> None:
    initial = sh.update(
        None, body('{ "state": { "reported": { "color": { "r": 255, "g": 255, "b": 0 } } } }'), 100
    ).shadow
    result = sh.update(
        initial, body('{ "state": { "desired": { "color": { "r": 10 }, "engine": "ON" } } }'), 200
    )
    assert result.delta is not None
    assert result.delta["state"] == {"color": {"r": 10}, "engine": "ON"}
    confirm = {"state": {"reported": result.delta["state"], "desired": None}}
    final = sh.update(result.shadow, json.dumps(confirm).encode(), 300).shadow
    assert {"state": final.state} == json.loads(
        '{ "state": { "reported": { "color": { "r": 10, "g": 255, "b": 0 }, "engine": "ON" } } }'
    )
    # Only the written leaf got a new timestamp.
    assert final.metadata["reported"]["color"] == {
        "r": {"timestamp": 300},
        "g": {"timestamp": 100},
        "b": {"timestamp": 100},
    }


def test_s7_get_returns_delta_and_delta_metadata() -> None:
    shadow = stored(
        {"lights": {"color": "RED"}, "engine": "ON"},
        {"lights": {"color": "GREEN"}, "engine": "ON"},
        ts_d=123456,
        ts_r=789012,
        version=10,
    )
    assert sh.get(shadow, b"", 123456789) == json.loads("""
        { "state": {
            "desired":  { "lights": { "color": "RED" },   "engine": "ON" },
            "reported": { "lights": { "color": "GREEN" }, "engine": "ON" },
            "delta":    { "lights": { "color": "RED" } } },
          "metadata": {
            "desired":  { "lights": { "color": { "timestamp": 123456 } }, "engine": { "timestamp": 123456 } },
            "reported": { "lights": { "color": { "timestamp": 789012 } }, "engine": { "timestamp": 789012 } },
            "delta":    { "lights": { "color": { "timestamp": 123456 } } } },
          "version": 10, "timestamp": 123456789 }""")


def test_s8_flat_delta() -> None:
    shadow = stored(
        {"color": "RED", "state": "STOP"}, {"color": "GREEN", "engine": "ON"}, ts_d=12345, ts_r=999
    )
    delta, meta = sh.delta_of(shadow)
    assert delta == json.loads('{ "color": "RED", "state": "STOP" }')
    assert meta == json.loads('{ "color": {"timestamp": 12345}, "state": {"timestamp": 12345} }')


def test_s9_nested_delta_path_to_root() -> None:
    shadow = stored(
        {"lights": {"color": {"r": 255, "g": 255, "b": 255}}},
        {"lights": {"color": {"r": 255, "g": 0, "b": 255}}},
    )
    assert sh.delta_of(shadow)[0] == json.loads('{ "lights": { "color": { "g": 255 } } }')


def test_s10_arrays_replace_whole() -> None:
    shadow = stored({"colors": ["RED", "GREEN", "BLUE"]}, {"colors": ["RED", "GREEN"]})
    result = sh.update(shadow, body('{ "state": { "desired" : { "colors" : ["RED"] } } }'), 5)
    assert result.shadow.state["desired"] == json.loads('{ "colors" : ["RED"] }')
    assert sh.delta_of(result.shadow)[0] == {"colors": ["RED"]}


def test_s11_null_inside_array_rejected() -> None:
    shadow = stored({"colors": ["RED"]})
    before = shadow.to_json()
    with pytest.raises(sh.ShadowError) as caught:
        sh.update(
            shadow, body('{ "state": { "desired" : { "colors" : [ null, "RED", "GREEN" ] } } }'), 5
        )
    assert isinstance(sh.error_document(caught.value, None, 5)["code"], int)
    assert caught.value.code == 400
    assert shadow.to_json() == before


def test_s12_optimistic_locking() -> None:
    shadow = stored({"colors": ["RED", "GREEN", "BLUE"]}, version=10)
    stale = '{ "state": { "desired": { "colors": ["BLUE"] } }, "version": 9 }'
    with pytest.raises(sh.ShadowError) as caught:
        sh.update(shadow, body(stale), 7)
    assert (caught.value.code, caught.value.message) == (409, "Version conflict")
    with_token = json.dumps({**json.loads(stale), "clientToken": "abc"}).encode()
    with pytest.raises(sh.ShadowError) as again:
        sh.update(shadow, with_token, 7)
    assert sh.error_document(again.value, sh.client_token_of(with_token), 7) == {
        "code": 409,
        "message": "Version conflict",
        "timestamp": 7,
        "clientToken": "abc",
    }
    result = sh.update(
        shadow, body('{ "state": { "desired": { "colors": ["BLUE"] } }, "version": 10 }'), 8
    )
    assert {"state": result.shadow.state, "version": result.shadow.version} == json.loads(
        '{ "state": { "desired": { "colors": ["BLUE"] } }, "version": 11 }'
    )


def test_s13_null_deletes_fields_and_sections() -> None:
    shadow = stored(
        {"lights": {"color": "RED"}, "engine": "ON"},
        {"lights": {"color": "GREEN"}, "engine": "OFF"},
    )
    result = sh.update(
        shadow, body('{ "state": { "desired": null, "reported": { "engine": null } } }'), 9
    )
    assert {"state": result.shadow.state} == json.loads(
        '{ "state": { "reported": { "lights": { "color": "GREEN" } } } }'
    )
    assert result.shadow.metadata == {"reported": {"lights": {"color": {"timestamp": 0}}}}


def test_s14_state_null_empties_but_keeps_shadow() -> None:
    shadow = stored({"a": 1}, {"b": 2}, version=4)
    emptied = sh.update(shadow, body('{ "state": null }'), 10).shadow
    reply = sh.get(emptied, b"", 11)
    assert reply["state"] == {} and reply["metadata"] == {}
    after = sh.update(emptied, body('{ "state": { "reported": { "b": 3 } } }'), 12).shadow
    assert after.version == emptied.version + 1


def test_s15_versions_follow_the_message_order_example() -> None:
    shadow = stored(None, {"color": "blue"}, version=10)
    first = sh.update(
        shadow, body('{ "state": { "desired" : { "color" : "RED" } }, "version": 10 }'), 123456778
    )
    assert first.delta is not None
    assert (first.delta["state"], first.delta["version"]) == ({"color": "RED"}, 11)
    second = sh.update(
        first.shadow,
        body('{ "state": { "desired" : { "color" : "GREEN" } }, "version": 11 }'),
        123456779,
    )
    assert second.delta is not None
    assert (second.delta["state"], second.delta["version"]) == ({"color": "GREEN"}, 12)


NEGATIVE = [
    ('{ "clientToken": "t" }', 400, "Missing required node: state"),
    ('{ "state": "x" }', 400, "State node must be an object"),
    ('{ "state": { "desired": 5 } }', 400, "Desired node must be an object"),
    ('{ "state": { "reported": [] } }', 400, "Reported node must be an object"),
    ('{ "state": { "delta": {} } }', 400, "State contains an invalid node"),
    ('{ "state": {}, "version": "3" }', 400, "Invalid version"),
    ('{ "state": {}, "clientToken": 7 }', 400, "Invalid clientToken"),
    ('{ "state": {}, "clientToken": "' + "x" * 65 + '" }', 400, "Invalid clientToken"),
    (
        '{"state":{"desired":{"a":{"b":{"c":{"d":{"e":{"f":{"g":1}}}}}}}}}',
        400,
        "JSON contains too many levels of nesting; maximum is 6",
    ),
    ("{ not json", 400, "Invalid JSON"),
    (
        '{ "state": { "reported": { "big": "' + "x" * 8200 + '" } } }',
        413,
        "The payload exceeds the maximum size allowed",
    ),
]


@pytest.mark.parametrize(("request_text", "code", "message"), NEGATIVE)
def test_negative_checks(request_text: str, code: int, message: str) -> None:
    with pytest.raises(sh.ShadowError) as caught:
        sh.update(None, body(request_text), 1)
    assert (caught.value.code, caught.value.message) == (code, message)


def test_six_levels_are_allowed() -> None:
    result = sh.update(
        None, body('{"state":{"desired":{"a":{"b":{"c":{"d":{"e":{"f":1}}}}}}}}'), 1
    )
    assert result.shadow.version == 1


def test_non_utf8_is_415() -> None:
    with pytest.raises(sh.ShadowError) as caught:
        sh.update(None, b'{"state":{"reported":{"a":"\xff"}}}', 1)
    assert (caught.value.code, caught.value.message) == (
        415,
        "Unsupported documented encoding; supported encoding is UTF-8",
    )


def test_too_many_requests_constructor() -> None:
    err = sh.ShadowError.too_many_requests()
    assert sh.error_document(err, "c", 3) == {
        "code": 429,
        "message": "Too Many Requests",
        "timestamp": 3,
        "clientToken": "c",
    }
