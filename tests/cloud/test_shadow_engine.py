"""Shadow engine: rules beyond the guide's vectors, a state machine against an independent model,
and fuzzing of malformed input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from shadow_model import SECTION_PATCH, FlatShadow, check_delta_message, check_document

from rig.cloud.shadow import engine as sh


def upd(current: sh.Shadow | None, doc: dict[str, Any], now: int) -> sh.UpdateResult:
    return sh.update(current, json.dumps(doc).encode(), now)


# ---------------------------------------------------------------- rules the vectors do not cover


def test_client_token_echoed_on_every_reply() -> None:
    token = b'{"clientToken":"tok-1"}'
    result = upd(None, {"state": {"reported": {"a": 1}}, "clientToken": "tok-1"}, 1)
    assert result.accepted["clientToken"] == "tok-1"
    assert "clientToken" not in result.documents["current"]
    assert sh.get(result.shadow, token, 2)["clientToken"] == "tok-1"
    _, deleted = sh.delete(result.shadow, token, 3)
    assert deleted == {"version": 1, "timestamp": 3, "clientToken": "tok-1"}
    assert "clientToken" not in sh.get(result.shadow, b"", 2)


def test_client_token_of_is_best_effort() -> None:
    assert sh.client_token_of(b'{"clientToken":"x","state":5}') == "x"
    assert sh.client_token_of(b"not json") is None
    assert sh.client_token_of(b'{"clientToken": 5}') is None
    assert sh.client_token_of(b"\xff\xfe") is None
    assert sh.client_token_of(b'["clientToken"]') is None


def test_only_written_fields_get_new_timestamps() -> None:
    first = upd(None, {"state": {"reported": {"a": 1, "b": {"c": 2, "d": 3}}}}, 100).shadow
    second = upd(first, {"state": {"reported": {"b": {"c": 5}}}}, 200).shadow
    assert second.metadata == {
        "reported": {
            "a": {"timestamp": 100},
            "b": {"c": {"timestamp": 200}, "d": {"timestamp": 100}},
        }
    }


def test_object_replaces_scalar_and_back() -> None:
    first = upd(None, {"state": {"desired": {"a": 1}}}, 1).shadow
    second = upd(first, {"state": {"desired": {"a": {"x": [1, 2]}}}}, 2).shadow
    assert second.state == {"desired": {"a": {"x": [1, 2]}}}
    assert second.metadata == {"desired": {"a": {"x": {"timestamp": 2}}}}
    third = upd(second, {"state": {"desired": {"a": "s"}}}, 3).shadow
    assert third.metadata == {"desired": {"a": {"timestamp": 3}}}


def test_emptied_objects_and_sections_are_removed() -> None:
    first = upd(None, {"state": {"desired": {"a": {"b": 1}}, "reported": {"c": 1}}}, 1).shadow
    second = upd(first, {"state": {"desired": {"a": {"b": None}}}}, 2).shadow
    assert second.state == {"reported": {"c": 1}}
    assert second.metadata == {"reported": {"c": {"timestamp": 1}}}


def test_delta_published_only_when_desired_written_or_delta_changed() -> None:
    first = upd(None, {"state": {"desired": {"a": 1, "b": 2}}}, 1)
    assert first.delta is not None and first.delta["state"] == {"a": 1, "b": 2}
    # Reported write that leaves the delta unchanged: not re-published.
    same = upd(first.shadow, {"state": {"reported": {"z": 0}}}, 2)
    assert same.delta is None
    # Reported write that shrinks the delta: published with everything still pending.
    shrink = upd(same.shadow, {"state": {"reported": {"a": 1}}}, 3)
    assert shrink.delta is not None and shrink.delta["state"] == {"b": 2}
    # Deleting a reported field that desired still holds brings it back (§1.6).
    back = upd(shrink.shadow, {"state": {"reported": {"a": None}}}, 4)
    assert back.delta is not None and back.delta["state"] == {"a": 1, "b": 2}
    assert back.delta["metadata"] == {"a": {"timestamp": 1}, "b": {"timestamp": 1}}


def test_version_continues_after_delete_then_restarts_after_48h() -> None:
    live = upd(None, {"state": {"reported": {"a": 1}}}, 10).shadow
    live = upd(live, {"state": {"reported": {"a": 2}}}, 11).shadow
    tombstone, accepted = sh.delete(live, b"", 12)
    assert accepted["version"] == 2 and not tombstone.exists
    with pytest.raises(sh.ShadowError) as caught:
        sh.delete(tombstone, b"", 13)
    assert caught.value.code == 404
    again = upd(tombstone, {"state": {"reported": {"b": 1}}}, 13)
    assert again.shadow.version == 3 and again.documents["previous"] is None
    assert again.shadow.state == {"reported": {"b": 1}}
    late = upd(tombstone, {"state": {"reported": {"b": 1}}}, 12 + sh.VERSION_CONTINUITY_S)
    assert late.shadow.version == 1


def test_version_check_on_new_shadow_and_tombstone() -> None:
    with pytest.raises(sh.ShadowError):
        upd(None, {"state": {}, "version": 1}, 1)
    assert upd(None, {"state": {}, "version": 0}, 1).shadow.version == 1


def test_get_and_delete_of_missing_shadow_are_404() -> None:
    for call in (sh.get, sh.delete):
        with pytest.raises(sh.ShadowError) as caught:
            call(None, b"", 1)
        assert (caught.value.code, caught.value.message) == (404, "Thing not found")


def test_rejected_update_leaves_the_stored_shadow_untouched() -> None:
    live = upd(None, {"state": {"reported": {"a": [1, 2]}}}, 1).shadow
    snapshot = live.to_json()
    with pytest.raises(sh.ShadowError):
        upd(live, {"state": {"reported": {"b": "x" * 9000}}}, 2)
    upd(live, {"state": {"reported": {"a": None, "c": 3}}}, 3)
    assert live.to_json() == snapshot


def test_storage_round_trip_and_corrupt_storage() -> None:
    live = upd(None, {"state": {"desired": {"a": {"b": ["x"]}}}}, 5).shadow
    tombstone, _ = sh.delete(live, b"", 6)
    for value in (live, tombstone):
        assert sh.Shadow.from_json(value.to_json()) == value
    for bad in (
        '{"state": [], "metadata": {}, "version": 1}',
        '{"state": {}, "metadata": {}}',
        '{"state": {}, "metadata": {}, "version": true}',
        '{"state": {"delta": {}}, "metadata": {}, "version": 1}',
        '{"state": {"desired": 5}, "metadata": {}, "version": 1}',
        "[]",
    ):
        with pytest.raises(ValueError):
            sh.Shadow.from_json(bad)


def test_bool_and_number_are_different_values_in_delta() -> None:
    live = upd(
        None, {"state": {"desired": {"a": True, "b": 1}, "reported": {"a": 1, "b": 1.0}}}, 1
    )
    assert sh.delta_of(live.shadow)[0] == {"a": True}


# ---------------------------------------------------------------- fuzz


@given(st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_arbitrary_bytes_never_crash(payload: bytes) -> None:
    try:
        sh.update(None, payload, 1)
    except sh.ShadowError as err:
        assert err.code in {400, 413, 415}
    sh.client_token_of(payload)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.sampled_from(["state", "version", "clientToken", "x"]), json_values))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_arbitrary_json_documents_never_crash(document: dict[str, Any]) -> None:
    try:
        result = sh.update(None, json.dumps(document).encode(), 1)
    except sh.ShadowError as err:
        assert err.code in {400, 409, 413}
    else:
        assert result.shadow.version == 1
        json.dumps(result.accepted)
        sh.Shadow.from_json(result.shadow.to_json())


@pytest.mark.parametrize("depth", [7, 50, 5000])
def test_deep_nesting_is_rejected_not_crashing(depth: int) -> None:
    text = '{"state":{"desired":' + '{"a":' * depth + "1" + "}" * depth + "}}"
    with pytest.raises(sh.ShadowError) as caught:
        sh.update(None, text.encode(), 1)
    assert caught.value.code in {400, 413}


def test_lone_surrogates_are_invalid_json() -> None:
    for payload in (
        b'{"state":{"reported":{"a":"\\ud800"}}}',
        b'{"state":{"reported":{"\\udfff":1}}}',
    ):
        with pytest.raises(sh.ShadowError) as caught:
            sh.update(None, payload, 1)
        assert caught.value.message == "Invalid JSON"
    assert sh.client_token_of(b'{"clientToken":"\\ud800"}') is None


def test_nan_and_huge_payload_are_rejected() -> None:
    with pytest.raises(sh.ShadowError) as nan:
        sh.update(None, b'{"state":{"reported":{"a":NaN}}}', 1)
    assert nan.value.message == "Invalid JSON"
    with pytest.raises(sh.ShadowError) as big:
        sh.update(None, b" " * (sh.MAX_PAYLOAD_BYTES + 1), 1)
    assert big.value.code == 413


# ---------------------------------------------------------------- state machine vs a flat model
# (the model: tests/support/shadow_model.py; the same model checks the stored service in
# tests/cloud/test_shadow_store_stateful.py)


class ShadowMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.stored: sh.Shadow | None = None
        self.model = FlatShadow()
        self.now = 1000

    def tick(self) -> int:
        self.now += 1
        return self.now

    @rule(
        desired=SECTION_PATCH,
        reported=SECTION_PATCH,
        use_desired=st.booleans(),
        use_reported=st.booleans(),
        version=st.sampled_from(["none", "right", "stale"]),
    )
    def update(
        self,
        desired: dict[str, Any] | None,
        reported: dict[str, Any] | None,
        use_desired: bool,
        use_reported: bool,
        version: str,
    ) -> None:
        now = self.tick()
        state: dict[str, Any] = {}
        if use_desired:
            state["desired"] = desired
        if use_reported:
            state["reported"] = reported
        doc: dict[str, Any] = {"state": state}
        if version != "none":
            doc["version"] = self.model.version + (0 if version == "right" else -1)
        if version == "stale" and self.model.version == 0:
            doc["version"] = 7
        if version == "stale":
            with pytest.raises(sh.ShadowError) as caught:
                upd(self.stored, doc, now)
            assert caught.value.code == 409
            return
        result = upd(self.stored, doc, now)
        publish = self.model.accept_update(state, now)
        self.stored = result.shadow
        assert result.accepted["version"] == self.model.version
        assert result.accepted["state"] == state
        assert (result.delta is not None) == publish
        if result.delta is not None:
            check_delta_message(result.delta, self.model)

    @rule()
    def state_null(self) -> None:
        result = upd(self.stored, {"state": None}, self.tick())
        assert not self.model.accept_update(None, self.now) and result.delta is None
        self.stored = result.shadow

    @precondition(lambda self: self.model.exists)
    @rule()
    def delete(self) -> None:
        assert self.stored is not None
        self.stored, accepted = sh.delete(self.stored, b"", self.tick())
        assert accepted["version"] == self.model.version
        self.model.delete()

    @invariant()
    def get_matches_model(self) -> None:
        if not self.model.exists:
            with pytest.raises(sh.ShadowError):
                sh.get(self.stored, b"", self.now)
            return
        reply = sh.get(self.stored, b"", self.now)
        check_document(reply, self.model, with_delta=True)


ShadowMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=20, deadline=None)
TestShadowMachine = ShadowMachine.TestCase
