"""Thing and shadow names are checked before a shadow request touches the database (decision
S-24): over MQTT the names come from the topic, so they can be anything the broker lets through."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rig.cloud.core.store import Store
from rig.cloud.shadow.store import ShadowStore

REQUEST = json.dumps({"state": {"reported": {"a": 1}}, "clientToken": "tok"}).encode()


@pytest.fixture
def shadow_store(tmp_path: Path) -> ShadowStore:
    return ShadowStore(Store(tmp_path / "state.db"))


def _stored(shadow_store: ShadowStore) -> list[tuple[str, str]]:
    rows = shadow_store.store.read().execute("SELECT thing_name, shadow_name FROM shadows")
    return [(row["thing_name"], row["shadow_name"]) for row in rows]


@pytest.mark.parametrize(
    ("thing", "shadow_name", "message"),
    [
        ("bad name!", "", "Invalid thing name"),
        ("x" * 129, "", "Invalid thing name"),
        ("ümlaut", "", "Invalid thing name"),
        ("", "", "Invalid thing name"),
        ("thing-1", "bad na me", "Invalid shadow name"),
        ("thing-1", "n" * 65, "Invalid shadow name"),
        ("thing-1", "ünicode", "Invalid shadow name"),
        ("bad name!", "bad na me", "Invalid thing name"),  # the thing name is checked first
    ],
)
@pytest.mark.parametrize("operation", ["update", "get", "delete"])
def test_bad_names_are_rejected_with_400_on_the_request_topic_and_nothing_is_stored(
    shadow_store: ShadowStore, thing: str, shadow_name: str, message: str, operation: str
) -> None:
    outcome = shadow_store.handle(operation, thing, REQUEST, shadow_name)
    assert outcome.error is not None and outcome.accepted is None
    ((topic, body),) = outcome.messages
    base = f"$aws/things/{thing}/shadow" + (f"/name/{shadow_name}" if shadow_name else "")
    assert topic == f"{base}/{operation}/rejected"
    assert body == {
        "code": 400,
        "message": message,
        "timestamp": body["timestamp"],
        "clientToken": "tok",
    }
    assert isinstance(body["timestamp"], int)
    assert _stored(shadow_store) == []


def test_an_invalid_client_token_is_not_echoed_on_a_name_error(shadow_store: ShadowStore) -> None:
    outcome = shadow_store.handle("update", "bad name!", b'{"clientToken": 5}')
    assert outcome.messages[0][1].keys() == {"code", "message", "timestamp"}


@pytest.mark.parametrize(
    ("thing", "shadow_name"),
    [("a", ""), ("x" * 128, ""), ("Aa0:_-", ""), ("t", "s"), ("t", "n" * 64), ("t", "Aa0:_-")],
)
def test_names_at_the_limits_are_served(
    shadow_store: ShadowStore, thing: str, shadow_name: str
) -> None:
    outcome = shadow_store.handle("update", thing, REQUEST, shadow_name)
    assert outcome.error is None, outcome.messages
    assert _stored(shadow_store) == [(thing, shadow_name)]
