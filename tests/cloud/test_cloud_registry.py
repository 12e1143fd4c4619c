"""The registry, certificate and policy API without a broker: shapes, limits, aws-style errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cloud_home import crash_after_first_enqueue
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from rig.cloud.api import Cloud
from rig.cloud.core import arn
from rig.cloud.core.errors import (
    CertificateStateException,
    DeleteConflictException,
    InvalidRequestException,
    LimitExceededException,
    MalformedPolicyException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    VersionConflictException,
)
from rig.cloud.registry import thing_types
from rig.cloud.shadow import engine as shadow_engine
from rig.cloud.shadow import store as shadows


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    api = Cloud(home)
    yield api
    api.close()


def test_things_versions_and_errors(cloud: Cloud) -> None:
    cloud.create_thing("t1", attribute_payload={"attributes": {"a": "1"}})
    assert (
        cloud.create_thing("t1", attribute_payload={"attributes": {"a": "1"}})["thingName"] == "t1"
    )
    with pytest.raises(ResourceAlreadyExistsException):
        cloud.create_thing("t1", attribute_payload={"attributes": {"a": "2"}})
    with pytest.raises(InvalidRequestException, match="invalid"):
        cloud.create_thing("bad name!")
    with pytest.raises(InvalidRequestException, match="at most 3"):
        cloud.create_thing("t2", attribute_payload={"attributes": {k: "v" for k in "abcd"}})
    with pytest.raises(VersionConflictException, match="version 1"):
        cloud.update_thing("t1", attribute_payload={"attributes": {"b": "2"}}, expected_version=5)
    cloud.update_thing("t1", attribute_payload={"attributes": {"b": "2"}, "merge": True})
    assert cloud.describe_thing("t1")["attributes"] == {"a": "1", "b": "2"}
    cloud.update_thing("t1", attribute_payload={"attributes": {"c": "3"}})
    assert cloud.describe_thing("t1")["attributes"] == {"c": "3"}
    assert cloud.describe_thing("t1")["version"] == 3
    with pytest.raises(ResourceNotFoundException, match="nope"):
        cloud.describe_thing("nope")
    assert cloud.delete_thing("never-existed") == {}
    cloud.delete_thing("t1", expected_version=3)
    with pytest.raises(ResourceNotFoundException):
        cloud.describe_thing("t1")


def test_pagination_and_filters(cloud: Cloud) -> None:
    cloud.create_thing_type("Button")
    for index in range(5):
        cloud.create_thing(f"p{index}", thing_type_name="Button" if index % 2 else None)
    page = cloud.list_things(max_results=2)
    assert [t["thingName"] for t in page["things"]] == ["p0", "p1"] and page["nextToken"]
    rest = cloud.list_things(max_results=10, next_token=page["nextToken"])
    assert [t["thingName"] for t in rest["things"]] == [
        "p2",
        "p3",
        "p4",
    ] and "nextToken" not in rest
    typed = cloud.list_things(thing_type_name="Button")
    assert [t["thingName"] for t in typed["things"]] == ["p1", "p3"]
    with pytest.raises(InvalidRequestException):
        cloud.list_things(max_results=0)
    cloud.registry.deprecate_thing_type("Button")
    with pytest.raises(InvalidRequestException, match="deprecated"):
        cloud.create_thing("p9", thing_type_name="Button")


def test_group_hierarchy_rules(cloud: Cloud) -> None:
    cloud.create_thing_group("root")
    cloud.create_thing_group("left", parent_group_name="root")
    cloud.create_thing_group("right", parent_group_name="root")
    cloud.create_thing_group("other")
    cloud.create_thing("g1")
    cloud.add_thing_to_thing_group(thing_group_name="left", thing_name="g1")
    with pytest.raises(InvalidRequestException, match="same hierarchy"):
        cloud.add_thing_to_thing_group(thing_group_name="right", thing_name="g1")
    cloud.add_thing_to_thing_group(thing_group_arn=arn.thing_group_arn("other"), thing_name="g1")
    described = cloud.describe_thing_group("left")
    assert described["thingGroupMetadata"]["parentGroupName"] == "root"
    assert described["thingGroupMetadata"]["rootToParentThingGroups"][0]["groupName"] == "root"
    assert cloud.registry.list_things_in_thing_group("root", recursive=True) == {"things": ["g1"]}
    assert cloud.registry.list_things_in_thing_group("root") == {"things": []}
    parent = "root"  # depth 1; "The maximum depth of a group hierarchy is 7."
    for depth in range(2, 8):
        cloud.create_thing_group(f"level{depth}", parent_group_name=parent)
        parent = f"level{depth}"
    with pytest.raises(LimitExceededException, match="7"):
        cloud.create_thing_group("level8", parent_group_name=parent)
    with pytest.raises(ResourceNotFoundException):
        cloud.create_thing_group("orphan", parent_group_name="missing")


def test_certificates_and_policies(cloud: Cloud) -> None:
    created = cloud.create_keys_and_certificate(set_as_active=False)
    certificate_id = created["certificateId"]
    assert created["certificateArn"] == arn.cert_arn(certificate_id)
    assert "PRIVATE KEY" in created["keyPair"]["PrivateKey"]
    stored = json.dumps(cloud.describe_certificate(certificate_id))
    assert "PRIVATE KEY" not in stored and '"INACTIVE"' in stored
    with pytest.raises(InvalidRequestException):
        cloud.update_certificate(certificate_id, "SHINY")
    with pytest.raises(CertificateStateException):
        cloud.update_certificate(certificate_id, "PENDING_TRANSFER")
    with pytest.raises(ResourceNotFoundException):
        cloud.update_certificate("0" * 64, "ACTIVE")
    with pytest.raises(MalformedPolicyException):
        cloud.create_policy("broken", "{not json")
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}],
    }
    cloud.create_policy("all", document)
    with pytest.raises(ResourceAlreadyExistsException):
        cloud.create_policy("all", document)
    assert json.loads(cloud.get_policy("all")["policyDocument"]) == document
    with pytest.raises(InvalidRequestException):
        cloud.attach_policy("all", "arn:aws:iam::123456789012:user/nobody")
    cloud.attach_policy("all", created["certificateArn"])
    with pytest.raises(DeleteConflictException):
        cloud.delete_policy("all")
    with pytest.raises(DeleteConflictException):
        cloud.delete_certificate(certificate_id)
    cloud.detach_policy("all", created["certificateArn"])
    cloud.delete_certificate(certificate_id)
    with pytest.raises(ResourceNotFoundException):
        cloud.describe_certificate(certificate_id)


def test_certificate_from_csr(cloud: Cloud) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "csr-thing")]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )
    first = cloud.create_certificate_from_csr(csr, set_as_active=True)
    second = cloud.create_certificate_from_csr(csr, set_as_active=True)
    assert first["certificateId"] != second["certificateId"]  # "results in a distinct certificate"
    issued = x509.load_pem_x509_certificate(first["certificatePem"].encode())
    assert issued.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    weak_csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "weak")]))
        .sign(weak, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )
    with pytest.raises(InvalidRequestException, match="2048"):
        cloud.create_certificate_from_csr(weak_csr)
    with pytest.raises(InvalidRequestException):
        cloud.create_certificate_from_csr("not a csr")


def test_thing_principals(cloud: Cloud) -> None:
    cloud.create_thing("tp")
    created = cloud.create_keys_and_certificate(set_as_active=True)
    with pytest.raises(ResourceNotFoundException):
        cloud.attach_thing_principal("tp", arn.cert_arn("f" * 64))
    cloud.attach_thing_principal("tp", created["certificateArn"])
    assert cloud.list_thing_principals("tp") == {"principals": [created["certificateArn"]]}
    with pytest.raises(InvalidRequestException, match="principal"):
        cloud.delete_thing("tp")
    cloud.detach_thing_principal("tp", created["certificateArn"])
    cloud.delete_thing("tp")


def test_shadow_rest_errors(cloud: Cloud) -> None:
    with pytest.raises(ResourceNotFoundException):
        cloud.get_thing_shadow("rest-1")
    accepted = json.loads(cloud.update_thing_shadow("rest-1", b'{"state":{"reported":{"a":1}}}'))
    assert accepted["version"] == 1
    with pytest.raises(InvalidRequestException, match="Invalid JSON"):
        cloud.update_thing_shadow("rest-1", b"{")
    from rig.cloud.core.errors import ConflictException

    with pytest.raises(ConflictException):
        cloud.update_thing_shadow("rest-1", b'{"state":{"reported":{"a":2}},"version":7}')
    named = json.loads(
        cloud.update_thing_shadow("rest-1", b'{"state":{"desired":{"b":1}}}', "cfg")
    )
    assert named["version"] == 1
    assert json.loads(cloud.get_thing_shadow("rest-1"))["state"] == {"reported": {"a": 1}}
    cloud.delete_thing_shadow("rest-1")
    with pytest.raises(ResourceNotFoundException):
        cloud.delete_thing_shadow("rest-1")


@pytest.mark.parametrize("shadow_name", ["bad/na me", "a/b", "n" * 65, "ünicode", "+", "#"])
def test_shadow_rest_refuses_a_bad_shadow_name(cloud: Cloud, shadow_name: str) -> None:
    """1-64 characters from [a-zA-Z0-9:_-] (today's AWS limit; decision S-24)."""
    for call in (
        lambda: cloud.update_thing_shadow(
            "rest-2", b'{"state":{"reported":{"a":1}}}', shadow_name
        ),
        lambda: cloud.get_thing_shadow("rest-2", shadow_name),
        lambda: cloud.delete_thing_shadow("rest-2", shadow_name),
    ):
        with pytest.raises(InvalidRequestException, match=r"shadowName .* is invalid: 1-64"):
            call()
    assert _outbox_topics(cloud) == []
    assert cloud.store.read().execute("SELECT COUNT(*) FROM shadows").fetchone()[0] == 0
    cloud.update_thing_shadow("rest-2", b'{"state":{"reported":{"a":1}}}', "n" * 64)


def test_shadow_rest_refuses_a_bad_thing_name(cloud: Cloud) -> None:
    with pytest.raises(InvalidRequestException, match="thingName 'bad name!' is invalid"):
        cloud.update_thing_shadow("bad name!", b'{"state":{"reported":{"a":1}}}')


def test_a_rest_shadow_change_and_its_notifications_are_one_transaction(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash after the shadow is written but before its notifications are must lose both:
    here the second outbox write fails, and the shadow must not have been committed."""
    cloud.update_thing_shadow("atomic-1", b'{"state":{"desired":{"a":1}}}')
    topics = _outbox_topics(cloud)
    base = "$aws/things/atomic-1/shadow/update"
    assert topics == [f"{base}/accepted", f"{base}/delta", f"{base}/documents"]

    written = crash_after_first_enqueue(monkeypatch, shadows)
    with pytest.raises(RuntimeError, match="killed"):
        cloud.update_thing_shadow("atomic-1", b'{"state":{"desired":{"a":2}}}')
    monkeypatch.undo()
    assert written == [f"{base}/accepted"]
    assert _outbox_topics(cloud) == topics
    stored = json.loads(cloud.get_thing_shadow("atomic-1"))
    assert stored["version"] == 1 and stored["state"]["desired"] == {"a": 1}
    assert _outbox_topics(cloud) == topics  # a get notifies nobody


@pytest.mark.parametrize(
    ("error", "exception", "http_status"),
    [
        (shadow_engine.ShadowError.invalid_json(), "InvalidRequestException", 400),
        (shadow_engine.ShadowError.unauthorized(), "UnauthorizedException", 401),
        (shadow_engine.ShadowError.forbidden(), "ForbiddenException", 403),
        (shadow_engine.ShadowError.not_found(), "ResourceNotFoundException", 404),
        (shadow_engine.ShadowError.version_conflict(), "ConflictException", 409),
        (shadow_engine.ShadowError.too_large(), "RequestEntityTooLargeException", 413),
        (shadow_engine.ShadowError.bad_encoding(), "UnsupportedDocumentEncodingException", 415),
        (shadow_engine.ShadowError.too_many_requests(), "ThrottlingException", 429),
        (shadow_engine.ShadowError.internal(), "InternalFailureException", 500),
        (
            shadow_engine.ShadowError(503, "Service unavailable"),
            "ServiceUnavailableException",
            503,
        ),
    ],
)
def test_every_code_of_the_guides_error_table_has_its_rest_exception(
    error: shadow_engine.ShadowError, exception: str, http_status: int
) -> None:
    """None falls to InternalFailureException by accident (decision S-25)."""
    rest = shadows.rest_error(error)
    assert (rest.code, rest.http_status, rest.message) == (exception, http_status, error.message)


def test_a_corrupt_stored_shadow_gives_an_internal_error_not_a_crash(cloud: Cloud) -> None:
    from rig.cloud.core.errors import InternalFailureException

    cloud.update_thing_shadow("corrupt-1", b'{"state":{"reported":{"a":1}}}')
    with cloud.store.write() as db:
        db.execute("UPDATE shadows SET document = '{broken' WHERE thing_name = 'corrupt-1'")
    with pytest.raises(InternalFailureException, match="Internal service failure"):
        cloud.get_thing_shadow("corrupt-1")
    assert json.loads(cloud.update_thing_shadow("other-1", b'{"state":{"reported":{}}}'))


def _outbox_topics(cloud: Cloud) -> list[str]:
    return [r["topic"] for r in cloud.store.read().execute("SELECT topic FROM outbox")]


def test_event_configurations_switch_registry_events(cloud: Cloud) -> None:
    assert cloud.describe_event_configurations()["eventConfigurations"]["THING"] == {
        "Enabled": True
    }
    cloud.update_event_configurations({"THING": {"Enabled": False}})
    cloud.create_thing("quiet-1")
    assert "$aws/events/thing/quiet-1/created" not in _outbox_topics(cloud)
    cloud.update_event_configurations({"THING": {"Enabled": True}})
    cloud.create_thing("loud-1")
    assert "$aws/events/thing/loud-1/created" in _outbox_topics(cloud)
    with pytest.raises(InvalidRequestException, match="NOT_A_TYPE"):
        cloud.update_event_configurations(
            {"THING": {"Enabled": False}, "NOT_A_TYPE": {"Enabled": True}}
        )
    assert cloud.describe_event_configurations()["eventConfigurations"]["THING"] == {
        "Enabled": True
    }


def _outbox(cloud: Cloud) -> list[tuple[str, dict[str, Any]]]:
    rows = cloud.store.read().execute("SELECT topic, payload FROM outbox ORDER BY rowid")
    return [(r["topic"], json.loads(r["payload"])) for r in rows]


def _events_after(cloud: Cloud, mark: int) -> list[tuple[str, dict[str, Any]]]:
    return _outbox(cloud)[mark:]


def test_delete_thing_type_needs_deprecation_five_minutes_and_no_things(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud.create_thing_type("StopLight")
    with pytest.raises(ResourceNotFoundException):
        cloud.delete_thing_type("NoSuchType")
    with pytest.raises(InvalidRequestException, match="not deprecated"):
        cloud.delete_thing_type("StopLight")
    cloud.create_thing("light-1", thing_type_name="StopLight")
    cloud.deprecate_thing_type("StopLight")
    with pytest.raises(InvalidRequestException, match="5 minutes after deprecation"):
        cloud.delete_thing_type("StopLight")
    monkeypatch.setattr(thing_types, "THING_TYPE_DELETE_WAIT_MS", 0)  # five minutes have passed
    with pytest.raises(InvalidRequestException, match="1 thing"):
        cloud.delete_thing_type("StopLight")
    cloud.update_thing("light-1", remove_thing_type=True)
    mark = len(_outbox(cloud))
    assert cloud.delete_thing_type("StopLight") == {}
    with pytest.raises(ResourceNotFoundException):
        cloud.describe_thing_type("StopLight")
    [(topic, event)] = _events_after(cloud, mark)
    assert topic == "$aws/events/thingType/StopLight/deleted"
    assert event["eventType"] == "thingTypeEvent" and event["operation"] == "DELETED"
    assert event["thingTypeName"] == "StopLight" and event["isDeprecated"] is True


def test_thing_type_association_events(cloud: Cloud) -> None:
    cloud.create_thing_type("T1")
    cloud.create_thing_type("T2")
    mark = len(_outbox(cloud))
    cloud.create_thing("th1", thing_type_name="T1")
    cloud.update_thing("th1", thing_type_name="T2")
    cloud.update_thing("th1", attribute_payload={"attributes": {"a": "1"}})  # type unchanged
    cloud.update_thing("th1", remove_thing_type=True)
    cloud.update_thing("th1", thing_type_name="T1")
    cloud.delete_thing("th1")
    associations = [
        (topic, event["operation"])
        for topic, event in _events_after(cloud, mark)
        if event["eventType"] == "THING_TYPE_ASSOCIATION_EVENT"
    ]
    base = "$aws/events/thingTypeAssociation/thing/th1"
    assert associations == [
        (f"{base}/T1", "ADDED"),
        (f"{base}/T1", "REMOVED"),
        (f"{base}/T2", "ADDED"),
        (f"{base}/T2", "REMOVED"),
        (f"{base}/T1", "ADDED"),
        (f"{base}/T1", "REMOVED"),
    ]
    event = next(e for t, e in _events_after(cloud, mark) if t == f"{base}/T1")
    assert set(event) == {
        "eventType",
        "eventId",
        "timestamp",
        "operation",
        "accountId",
        "thingId",
        "thingName",
        "thingTypeName",
    }
    assert event["thingName"] == "th1" and event["thingTypeName"] == "T1"
    cloud.update_event_configurations({"THING_TYPE_ASSOCIATION": {"Enabled": False}})
    mark = len(_outbox(cloud))
    cloud.create_thing("th2", thing_type_name="T2")
    assert not [t for t, _ in _events_after(cloud, mark) if "thingTypeAssociation" in t]


def test_update_thing_group_versions_attributes_and_event(cloud: Cloud) -> None:
    cloud.create_thing_group(
        "Lights",
        thing_group_properties={
            "thingGroupDescription": "all lights",
            "attributePayload": {"attributes": {"floor": "1", "color": "white"}},
        },
    )
    mark = len(_outbox(cloud))
    assert cloud.update_thing_group(
        "Lights",
        thing_group_properties={
            "attributePayload": {"attributes": {"color": "", "room": "hall"}, "merge": True}
        },
    ) == {"version": 2}
    described = cloud.describe_thing_group("Lights")
    assert described["version"] == 2
    assert described["thingGroupProperties"] == {
        "attributePayload": {"attributes": {"floor": "1", "room": "hall"}},
        "thingGroupDescription": "all lights",
    }
    [(topic, event)] = _events_after(cloud, mark)
    assert topic == "$aws/events/thingGroup/Lights/updated"
    assert event["operation"] == "UPDATED" and event["versionNumber"] == 2
    assert event["attributes"] == {"floor": "1", "room": "hall"}
    with pytest.raises(VersionConflictException):
        cloud.update_thing_group(
            "Lights", thing_group_properties={"thingGroupDescription": "x"}, expected_version=1
        )
    replaced = cloud.update_thing_group(
        "Lights",
        thing_group_properties={"attributePayload": {"attributes": {"only": "this"}}},
        expected_version=2,
    )
    assert replaced == {"version": 3}
    properties = cloud.describe_thing_group("Lights")["thingGroupProperties"]
    assert properties["attributePayload"] == {"attributes": {"only": "this"}}
    with pytest.raises(ResourceNotFoundException):
        cloud.update_thing_group("Nope", thing_group_properties={})


def test_delete_thing_group_rules_and_events(cloud: Cloud) -> None:
    cloud.create_thing_group("LightBulbs")
    cloud.create_thing_group("RedLights", parent_group_name="LightBulbs")
    cloud.create_thing("red-1")
    cloud.add_thing_to_thing_group(thing_group_name="RedLights", thing_name="red-1")
    cloud.create_policy(
        "GroupPolicy",
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}],
            }
        ),
    )
    red_arn = arn.thing_group_arn("RedLights")
    cloud.attach_policy("GroupPolicy", red_arn)
    with pytest.raises(
        InvalidRequestException,
        match="Cannot delete thing group : LightBulbs when there are still child groups",
    ):
        cloud.delete_thing_group("LightBulbs")
    with pytest.raises(VersionConflictException):
        cloud.delete_thing_group("RedLights", expected_version=7)
    mark = len(_outbox(cloud))
    assert cloud.delete_thing_group("RedLights", expected_version=1) == {}
    topics = [topic for topic, _ in _events_after(cloud, mark)]
    assert topics == [
        "$aws/events/thingGroupMembership/thingGroup/RedLights/thing/red-1/removed",
        "$aws/events/thingGroupHierarchy/thingGroup/LightBulbs/childThingGroup/RedLights/removed",
        "$aws/events/thingGroup/RedLights/deleted",
    ]
    hierarchy = _events_after(cloud, mark)[1][1]
    assert hierarchy["eventType"] == "thingGroupHierarchyEvent"
    assert hierarchy["operation"] == "REMOVED"
    assert hierarchy["thingGroupName"] == "LightBulbs"
    assert hierarchy["childGroupName"] == "RedLights"
    deleted = _events_after(cloud, mark)[2][1]
    assert deleted["operation"] == "DELETED" and deleted["parentGroupName"] == "LightBulbs"
    assert cloud.list_thing_groups_for_thing("red-1") == {"thingGroups": []}
    assert cloud.list_attached_policies(red_arn) == {"policies": []}
    with pytest.raises(ResourceNotFoundException):
        cloud.describe_thing_group("RedLights")
    assert cloud.delete_thing_group("RedLights") == {}  # gone already: succeeds (API reference)
    assert cloud.delete_thing_group("LightBulbs") == {}  # no children left


def test_list_thing_groups_by_parent_prefix_and_recursion(cloud: Cloud) -> None:
    cloud.create_thing_group("LightBulbs")
    cloud.create_thing_group("RedLights", parent_group_name="LightBulbs")
    cloud.create_thing_group("RedLEDLights", parent_group_name="RedLights")
    cloud.create_thing_group("ReplaceableObjects", parent_group_name="LightBulbs")
    cloud.create_thing_group("Other")

    def names(**kwargs: Any) -> list[str]:
        return [g["groupName"] for g in cloud.list_thing_groups(**kwargs)["thingGroups"]]

    assert names() == ["LightBulbs", "Other", "RedLEDLights", "RedLights", "ReplaceableObjects"]
    assert names(parent_group="LightBulbs") == ["RedLights", "ReplaceableObjects"]
    assert names(parent_group="LightBulbs", recursive=True) == [
        "RedLEDLights",
        "RedLights",
        "ReplaceableObjects",
    ]
    assert names(name_prefix_filter="Red") == ["RedLEDLights", "RedLights"]
    assert names(parent_group="LightBulbs", name_prefix_filter="Rep") == ["ReplaceableObjects"]
    group = cloud.list_thing_groups(parent_group="RedLights")["thingGroups"][0]
    assert group == {"groupName": "RedLEDLights", "groupArn": arn.thing_group_arn("RedLEDLights")}
    with pytest.raises(ResourceNotFoundException):
        cloud.list_thing_groups(parent_group="Nope")
