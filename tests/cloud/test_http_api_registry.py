"""The AWS HTTP API, registry side: boto3's iot client against a running cloud (issue #16)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from aws_http import api_url, client, dummy_env, error_of
from botocore.exceptions import ClientError


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    dummy_env(monkeypatch)


def test_endpoint_json_names_the_api_url(cloud) -> None:
    written = json.loads((cloud.home / "endpoint.json").read_text())
    assert written["api_url"] == api_url(cloud)
    port = int(written["api_url"].rsplit(":", 1)[1])
    assert (cloud.home / "cloud" / "api-port").read_text().strip() == str(port)


def test_create_then_describe_thing(cloud) -> None:
    iot = client(cloud, "iot")
    created = iot.create_thing(
        thingName="http-lamp-1", attributePayload={"attributes": {"model": "123"}}
    )
    assert created["thingArn"].endswith(":thing/http-lamp-1")
    described = iot.describe_thing(thingName="http-lamp-1")
    assert described["thingId"] == created["thingId"]
    assert described["attributes"] == {"model": "123"}
    assert described["version"] == 1
    assert described["defaultClientId"] == "http-lamp-1"
    # the same state the CLI's code path reads
    assert cloud.cloud.describe_thing("http-lamp-1")["thingId"] == created["thingId"]


def test_errors_are_aws_shaped(cloud) -> None:
    iot = client(cloud, "iot")
    with pytest.raises(ClientError) as missing:
        iot.describe_thing(thingName="http-no-such-thing")
    code, status, message = error_of(missing.value)
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert "http-no-such-thing" in message
    iot.create_thing(thingName="http-lamp-2")
    with pytest.raises(ClientError) as conflict:
        iot.create_thing(thingName="http-lamp-2", attributePayload={"attributes": {"a": "1"}})
    assert error_of(conflict.value)[:2] == ("ResourceAlreadyExistsException", 409)
    assert isinstance(conflict.value, iot.exceptions.ResourceAlreadyExistsException)
    with pytest.raises(ClientError) as invalid:
        iot.create_thing(thingName="bad name!")
    assert error_of(invalid.value)[:2] == ("InvalidRequestException", 400)


def test_list_things_paginates(cloud) -> None:
    iot = client(cloud, "iot")
    names = [f"http-page-{i}" for i in range(5)]
    for name in names:
        iot.create_thing(thingName=name, attributePayload={"attributes": {"batch": "pages"}})
    first = iot.list_things(maxResults=2, attributeName="batch", attributeValue="pages")
    assert [t["thingName"] for t in first["things"]] == names[:2]
    assert first["nextToken"]
    second = iot.list_things(
        maxResults=2, attributeName="batch", attributeValue="pages", nextToken=first["nextToken"]
    )
    assert [t["thingName"] for t in second["things"]] == names[2:4]
    paginator = iot.get_paginator("list_things")
    pages = list(
        paginator.paginate(
            attributeName="batch", attributeValue="pages", PaginationConfig={"PageSize": 2}
        )
    )
    assert len(pages) == 3
    assert [t["thingName"] for page in pages for t in page["things"]] == names
    with pytest.raises(ClientError) as too_many:
        iot.list_things(maxResults=251)
    assert error_of(too_many.value)[:2] == ("InvalidRequestException", 400)


def test_an_operation_the_cloud_lacks_is_named(cloud) -> None:
    iot = client(cloud, "iot")
    with pytest.raises(ClientError) as lacking:
        iot.list_audit_suppressions()
    code, status, message = error_of(lacking.value)
    assert (code, status) == ("UnknownOperationException", 501)
    assert "ListAuditSuppressions" in message


def test_a_parameter_the_cloud_lacks_is_refused(cloud) -> None:
    iot = client(cloud, "iot")
    with pytest.raises(ClientError) as refused:
        iot.list_certificates(pageSize=5)
    code, status, message = error_of(refused.value)
    assert (code, status) == ("InvalidRequestException", 400)
    assert "pageSize" in message
    # a method taking **kwargs that passes the member on to a store that does not take it
    with pytest.raises(ClientError) as passed_on:
        iot.list_things(attributeName="a", attributeValue="b", usePrefixAttributeValue=True)
    code, status, message = error_of(passed_on.value)
    assert (code, status) == ("InvalidRequestException", 400)
    assert "usePrefixAttributeValue" in message


def test_an_unsigned_request_is_refused_as_aws_does(cloud) -> None:
    request = urllib.request.Request(api_url(cloud) + "/things/http-lamp-1")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    assert refused.value.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert json.loads(refused.value.read())["message"] == "Missing Authentication Token"


def test_version_conflict(cloud) -> None:
    iot = client(cloud, "iot")
    iot.create_thing(thingName="http-versioned")
    iot.update_thing(
        thingName="http-versioned",
        attributePayload={"attributes": {"a": "1"}},
        expectedVersion=1,
    )
    with pytest.raises(ClientError) as stale:
        iot.update_thing(
            thingName="http-versioned",
            attributePayload={"attributes": {"a": "2"}},
            expectedVersion=1,
        )
    assert error_of(stale.value)[:2] == ("VersionConflictException", 409)
    assert iot.describe_thing(thingName="http-versioned")["attributes"] == {"a": "1"}
