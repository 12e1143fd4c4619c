"""The shadow test vectors S1–S15 of spec-shadow-jobs.md §4, as data: request and response texts are
copied from the spec; each step runs at the guide's own time (the engine takes `now`).

Where the guide's examples come from different captures (§3.1 item 1) the step says so and the
cross-capture value (the documents timestamps 1483…) is replaced by the step's own time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest

from rig.cloud.shadow import engine as sh


@dataclass(frozen=True)
class Stored:
    """A precondition the guide states as data ("Stored: …"), built through the engine."""

    desired: str | None = None
    reported: str | None = None
    ts_desired: int = 0
    ts_reported: int = 0
    version: int = 1

    def build(self) -> sh.Shadow:
        current: sh.Shadow | None = None
        for section, text, ts in (
            ("desired", self.desired, self.ts_desired),
            ("reported", self.reported, self.ts_reported),
        ):
            if text is not None:
                request = {"state": {section: json.loads(text)}}
                current = sh.update(current, json.dumps(request).encode(), ts).shadow
        assert current is not None
        current.version = self.version
        return current


@dataclass(frozen=True)
class Step:
    op: Literal["update", "get", "delete"]
    request: str
    now: int
    # What must hold afterwards; values are JSON texts from the spec (see `check`).
    expect: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Vector:
    name: str
    steps: tuple[Step, ...]
    stored: Stored | None = None


S1_UPDATE = Step(
    "update",
    '{ "state": { "reported": { "color": "red" } } }',
    1469564492,
    {
        "accepted": """{ "state": { "reported": { "color": "red" } },
  "metadata": { "reported": { "color": { "timestamp": 1469564492 } } },
  "version": 1, "timestamp": 1469564492 }""",
        # documents: guide capture at 1483467764; same document at this step's time.
        "documents": """{ "previous": null,
  "current": { "state": { "reported": { "color": "red" } },
               "metadata": { "reported": { "color": { "timestamp": 1469564492 } } },
               "version": 1 },
  "timestamp": 1469564492 }""",
        "delta": "null",
    },
)
S3_UPDATE = Step(
    "update",
    '{ "state": { "desired": { "color": "green" } } }',
    1469564658,
    {
        "accepted": """{ "state": { "desired": { "color": "green" } },
  "metadata": { "desired": { "color": { "timestamp": 1469564658 } } },
  "version": 2, "timestamp": 1469564658 }""",
        "delta": """{ "version": 2, "timestamp": 1469564658,
  "state": { "color": "green" },
  "metadata": { "color": { "timestamp": 1469564658 } } }""",
        "documents.previous": """{ "state": { "reported": { "color": "red" } },
  "metadata": { "reported": { "color": { "timestamp": 1469564492 } } }, "version": 1 }""",
        # guide capture: desired 1483468612 / reported 1483467764; here the steps' own times.
        "documents.current": """{ "state": { "desired": { "color": "green" }, "reported": { "color": "red" } },
  "metadata": { "desired": { "color": { "timestamp": 1469564658 } },
                "reported": { "color": { "timestamp": 1469564492 } } },
  "version": 2 }""",
    },
)
S4_UPDATE = Step(
    "update",
    """{ "state": { "reported": { "color": "green" }, "desired": null } }""",
    1469564801,
    {
        "accepted": """{ "state": { "reported": { "color": "green" }, "desired": null },
  "metadata": { "reported": { "color": { "timestamp": 1469564801 } },
                "desired": { "timestamp": 1469564801 } },
  "version": 3, "timestamp": 1469564801 }""",
        "delta": "null",
    },
)
S7_STORED = Stored(
    desired='{ "lights": { "color": "RED" }, "engine": "ON" }',
    reported='{ "lights": { "color": "GREEN" }, "engine": "ON" }',
    ts_desired=123456,
    ts_reported=789012,
    version=10,
)

VECTORS = [
    Vector("S1 — Create by first reported update", (S1_UPDATE,)),
    Vector(
        "S2 — GET after S1",
        (
            S1_UPDATE,
            Step(
                "get",
                "",
                1469564571,
                {
                    "reply": """{ "state": { "reported": { "color": "red" } },
  "metadata": { "reported": { "color": { "timestamp": 1469564492 } } },
  "version": 1, "timestamp": 1469564571 }"""
                },
            ),
        ),
    ),
    Vector("S3 — Desired change produces a delta", (S1_UPDATE, S3_UPDATE)),
    Vector(
        "S4 — Device reports and clears desired",
        (
            S1_UPDATE,
            S3_UPDATE,
            S4_UPDATE,
            Step(
                "get",
                "",
                1469564864,
                {
                    "reply": """{ "state": { "reported": { "color": "green" } },
  "metadata": { "reported": { "color": { "timestamp": 1469564801 } } },
  "version": 3, "timestamp": 1469564864 }"""
                },
            ),
        ),
    ),
    Vector(
        "S5 — Delete shadow, then GET",
        (
            S1_UPDATE,
            Step("delete", "", 1488565234, {"reply.keys": '["version", "timestamp"]'}),
            Step(
                "get",
                "",
                1488565240,
                {
                    "error": '{"code": 404, "message": "Thing not found"}',
                    "error.timestamp": "int",  # §1.9: every error document has a timestamp
                },
            ),
        ),
    ),
    Vector(
        "S6 — Partial nested update merges",
        (
            Step(
                "update",
                '{ "state": { "reported": { "color": { "r": 255, "g": 255, "b": 0 } } } }',
                100,
            ),
            Step(
                "update",
                '{ "state": { "desired": { "color": { "r": 10 }, "engine": "ON" } } }',
                200,
                {"delta.state": '{ "color": { "r": 10 }, "engine": "ON" }'},
            ),
            # The device confirms via reported and clears desired (not shown by the guide).
            Step(
                "update",
                '{ "state": { "reported": { "color": { "r": 10 }, "engine": "ON" }, "desired": null } }',
                300,
                {
                    "shadow": '{ "state": { "reported": { "color": { "r": 10, "g": 255, "b": 0 }, "engine": "ON" } } }',
                    "metadata.reported": '{"color": {"r": {"timestamp": 300}, "g": {"timestamp": 100}, "b": {"timestamp": 100}}, "engine": {"timestamp": 300}}',
                },
            ),
        ),
    ),
    Vector(
        "S7 — GET returns delta and delta metadata",
        (
            Step(
                "get",
                "",
                123456789,
                {
                    "reply": """{ "state": {
    "desired":  { "lights": { "color": "RED" },   "engine": "ON" },
    "reported": { "lights": { "color": "GREEN" }, "engine": "ON" },
    "delta":    { "lights": { "color": "RED" } } },
  "metadata": {
    "desired":  { "lights": { "color": { "timestamp": 123456 } }, "engine": { "timestamp": 123456 } },
    "reported": { "lights": { "color": { "timestamp": 789012 } }, "engine": { "timestamp": 789012 } },
    "delta":    { "lights": { "color": { "timestamp": 123456 } } } },
  "version": 10, "timestamp": 123456789 }"""
                },
            ),
        ),
        S7_STORED,
    ),
    Vector(
        "S8 — Flat delta: desired-only keys included, reported-only keys excluded",
        (
            Step(
                "get",
                "",
                5,
                {
                    "reply.state.delta": '{ "color": "RED", "state": "STOP" }',
                    "reply.metadata.delta": '{ "color": {"timestamp": 12345}, "state": {"timestamp": 12345} }',
                },
            ),
        ),
        Stored(
            '{ "color": "RED", "state": "STOP" }',
            '{ "color": "GREEN", "engine": "ON" }',
            12345,
            999,
        ),
    ),
    Vector(
        "S9 — Nested delta contains the path to the root",
        (Step("get", "", 5, {"reply.state.delta": '{ "lights": { "color": { "g": 255 } } }'}),),
        Stored(
            '{ "lights": { "color": { "r": 255, "g": 255, "b": 255 } } }',
            '{ "lights": { "color": { "r": 255, "g": 0, "b": 255 } } }',
        ),
    ),
    Vector(
        "S10 — Arrays replace whole",
        (
            Step(
                "update",
                '{ "state": { "desired" : { "colors" : ["RED"] } } }',
                5,
                # Companion check: reported colors differ, so the delta has the entire array.
                {
                    "shadow.state.desired": '{ "colors" : ["RED"] }',
                    "delta.state": '{ "colors" : ["RED"] }',
                },
            ),
        ),
        Stored('{ "colors" : ["RED", "GREEN", "BLUE"] }', '{ "colors" : ["GREEN"] }'),
    ),
    Vector(
        "S11 — Null inside array rejected",
        (
            Step(
                "update",
                '{ "state": { "desired" : { "colors" : [ null, "RED", "GREEN" ] } } }',
                5,
                {"error.code": "int", "unchanged": "true"},
            ),
        ),
        Stored('{ "colors" : ["RED"] }'),
    ),
    Vector(
        "S12 — Optimistic locking",
        (
            Step(
                "update",
                '{ "state": { "desired": { "colors": ["BLUE"] } }, "version": 9 }',
                7,
                {"error": '{"code": 409, "message": "Version conflict"}', "unchanged": "true"},
            ),
            Step(
                "update",
                '{ "state": { "desired": { "colors": ["BLUE"] } }, "version": 9, "clientToken": "abc" }',
                7,
                {"error": '{"code": 409, "message": "Version conflict", "clientToken": "abc"}'},
            ),
            Step(
                "update",
                '{ "state": { "desired": { "colors": ["BLUE"] } }, "version": 10 }',
                8,
                {"shadow": '{ "state": { "desired": { "colors": ["BLUE"] } }, "version": 11 }'},
            ),
        ),
        Stored('{ "colors": ["RED","GREEN","BLUE"] }', version=10),
    ),
    Vector(
        "S13 — null deletes fields and sections",
        (
            Step(
                "update",
                '{ "state": { "desired": null, "reported": { "engine": null } } }',
                9,
                {"shadow": '{ "state": { "reported": { "lights": { "color": "GREEN" } } } }'},
            ),
        ),
        Stored(
            '{ "lights": { "color": "RED" }, "engine": "ON" }',
            '{ "lights": { "color": "GREEN" }, "engine": "OFF" }',
        ),
    ),
    Vector(
        "S14 — state: null empties the shadow but keeps it",
        (
            Step("update", '{ "state": null }', 10, {"shadow.version": "5"}),
            Step("get", "", 11, {"reply.state": "{ }", "reply.metadata": "{ }"}),
            Step("update", '{ "state": { "reported": { "b": 3 } } }', 12, {"shadow.version": "6"}),
        ),
        Stored('{ "a": 1 }', '{ "b": 2 }', version=4),
    ),
    Vector(
        "S15 — Message order / version discard",
        (
            Step(
                "update",
                '{ "state": { "desired" : { "color" : "RED" } }, "version": 10 }',
                123456778,
                {
                    "delta.state": '{ "color": "RED" }',
                    "delta.version": "11",
                    "delta.timestamp": "123456778",
                },
            ),
            Step(
                "update",
                '{ "state": { "desired" : { "color" : "GREEN" } }, "version": 11 }',
                123456779,
                {
                    "delta.state": '{ "color" : "GREEN" }',
                    "delta.version": "12",
                    "delta.timestamp": "123456779",
                },
            ),
        ),
        Stored(None, '{ "color" : "blue" }', version=10),
    ),
]


def dig(value: Any, path: list[str]) -> Any:
    for key in path:
        value = value[key]
    return value


def check(expect: dict[str, str], outcome: dict[str, Any], before: str | None) -> None:
    for key, text in expect.items():
        head, *path = key.split(".")
        if head == "unchanged":  # a rejected request leaves the stored shadow as it was
            assert outcome["shadow"].to_json() == before
            continue
        if head == "error":
            err = outcome["error"]
            assert err is not None, f"{key}: the request was accepted"
            if text == "int":  # a JSON number, not a bool (e.g. "error.timestamp")
                value = dig(err, path)
                assert isinstance(value, int) and not isinstance(value, bool), key
            else:
                assert {k: err.get(k) for k in json.loads(text)} == json.loads(text)
            continue
        assert outcome["error"] is None, f"{key}: rejected with {outcome['error']}"
        if head == "shadow":
            stored = outcome["shadow"]
            full = {"state": stored.state, "version": stored.version, "metadata": stored.metadata}
            expected = json.loads(text)
            actual = dig(full, path)
            if not path:  # the guide's "final state" lists only what it names
                actual = {k: full[k] for k in expected}
            assert actual == expected, key
        elif head == "metadata":
            assert dig(outcome["shadow"].metadata, path) == json.loads(text), key
        elif key == "reply.keys":
            assert set(outcome["reply"]) == set(json.loads(text))
        else:
            assert dig(outcome[head], path) == json.loads(text), key


@pytest.mark.parametrize("vector", VECTORS, ids=[v.name.split(" ")[0] for v in VECTORS])
def test_shadow_vector(vector: Vector) -> None:
    current = vector.stored.build() if vector.stored else None
    for step in vector.steps:
        before = current.to_json() if current else None
        outcome: dict[str, Any] = {"error": None, "shadow": current}
        payload = step.request.encode()
        try:
            if step.op == "update":
                result = sh.update(current, payload, step.now)
                current = result.shadow
                outcome.update(
                    accepted=result.accepted, delta=result.delta, documents=result.documents
                )
            elif step.op == "get":
                outcome["reply"] = sh.get(current, payload, step.now)
            else:
                current, outcome["reply"] = sh.delete(current, payload, step.now)
        except sh.ShadowError as err:
            outcome["error"] = sh.error_document(err, sh.client_token_of(payload), step.now)
        outcome["shadow"] = current
        check(step.expect, outcome, before)


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
        sh.update(None, request_text.encode(), 1)
    assert (caught.value.code, caught.value.message) == (code, message)


def test_six_levels_are_allowed() -> None:
    result = sh.update(None, b'{"state":{"desired":{"a":{"b":{"c":{"d":{"e":{"f":1}}}}}}}}', 1)
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
