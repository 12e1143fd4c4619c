"""The AWS HTTP API, iot-data: thing shadows with boto3 over HTTP, the document as the raw body
(a blob payload), the shadow service's errors as AWS's (issue #16)."""

from __future__ import annotations

import json

import pytest
from aws_http import client, dummy_env, error_of
from botocore.exceptions import ClientError


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    dummy_env(monkeypatch)


def _document(response: dict) -> dict:
    return json.loads(response["payload"].read())


def test_update_get_delete_shadow(cloud) -> None:
    iot, data = client(cloud, "iot"), client(cloud, "iot-data")
    iot.create_thing(thingName="http-shadow-1")
    updated = _document(
        data.update_thing_shadow(
            thingName="http-shadow-1", payload=b'{"state":{"desired":{"double_ms":300}}}'
        )
    )
    assert updated["state"] == {"desired": {"double_ms": 300}}
    assert updated["version"] == 1
    got = _document(data.get_thing_shadow(thingName="http-shadow-1"))
    assert got["state"]["delta"] == {"double_ms": 300}
    # the same bytes the CLI's code path gives
    assert got == json.loads(cloud.cloud.get_thing_shadow("http-shadow-1"))
    data.delete_thing_shadow(thingName="http-shadow-1")
    with pytest.raises(ClientError) as gone:
        data.get_thing_shadow(thingName="http-shadow-1")
    code, status, message = error_of(gone.value)
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert message


def test_named_shadow_is_a_query_member(cloud) -> None:
    iot, data = client(cloud, "iot"), client(cloud, "iot-data")
    iot.create_thing(thingName="http-shadow-2")
    data.update_thing_shadow(
        thingName="http-shadow-2", shadowName="settings", payload=b'{"state":{"reported":{"a":1}}}'
    )
    named = _document(data.get_thing_shadow(thingName="http-shadow-2", shadowName="settings"))
    assert named["state"] == {"reported": {"a": 1}}
    with pytest.raises(ClientError) as classic:
        data.get_thing_shadow(thingName="http-shadow-2")
    assert error_of(classic.value)[:2] == ("ResourceNotFoundException", 404)


def test_version_conflict_and_bad_document(cloud) -> None:
    iot, data = client(cloud, "iot"), client(cloud, "iot-data")
    iot.create_thing(thingName="http-shadow-3")
    data.update_thing_shadow(thingName="http-shadow-3", payload=b'{"state":{"desired":{"a":1}}}')
    with pytest.raises(ClientError) as conflict:
        data.update_thing_shadow(
            thingName="http-shadow-3", payload=b'{"state":{"desired":{"a":2}},"version":7}'
        )
    code, status, _ = error_of(conflict.value)
    assert (code, status) == ("ConflictException", 409)
    assert isinstance(conflict.value, data.exceptions.ConflictException)
    with pytest.raises(ClientError) as bad:
        data.update_thing_shadow(thingName="http-shadow-3", payload=b"not json")
    assert error_of(bad.value)[:2] == ("InvalidRequestException", 400)
