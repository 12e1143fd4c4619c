"""The policy test vectors of spec-core.md ("Test vectors" TV-03…TV-09, TV-11(e), TV-12) and the
§3.9 example policies, data-driven. Each case quotes the vector's check text."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pytest

from rig.cloud.policies.engine import (
    Principal,
    authorize,
    parse_policy,
    reserved_topic_allowed,
    topic_matches_filter,
)

ACCOUNT, REGION = "123456789012", "us-east-1"
P = f"arn:aws:iot:{REGION}:{ACCOUNT}"


def principal(client_id: str = "client", **changes: Any) -> Principal:
    base = Principal(
        client_id=client_id,
        thing_name=None,
        certificate_id="c" * 64,
        subject={"CommonName": client_id},
        issuer={"CommonName": "Rig CA"},
        thing_attributes={},
        region=REGION,
        account=ACCOUNT,
    )
    return replace(base, **changes)


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource}


@dataclass(frozen=True)
class Check:
    text: str  # the vector's words
    action: str
    resource: str
    principal: Principal
    expected: str  # ALLOWED | EXPLICIT_DENY | IMPLICIT_DENY


TV03 = doc(
    allow("iot:Connect", "*"), allow("iot:Publish", f"{P}:topic/iotbutton/G030JF055364XVRB")
)
TV04 = doc(
    allow("iot:Connect", "*"),
    allow("iot:Publish", f"{P}:topic/foo"),
    deny("iot:Publish", f"{P}:topic/bar"),
)
TV04b = doc(allow("iot:Connect", "*"), deny("iot:Publish", f"{P}:topic/foo/bar"))
TV05 = doc(
    deny("iot:Connect", [f"{P}:client/clientid1", f"{P}:client/clientid2"]),
    allow("iot:Connect", ["*"]),
)
Q = "arn:aws:iot:us-east-1:123451234510"
TV06 = doc(
    allow("iot:Connect", f"{Q}:client/${{iot:ClientId}}"),
    allow("iot:Publish", f"{Q}:topic/foo/bar/${{iot:ClientId}}"),
)
TV07 = doc(allow("iot:Connect", "*"), allow("iot:Subscribe", f"{P}:topicfilter/foo/+/bar"))
TV07b = doc(allow("iot:Connect", "*"), allow("iot:Subscribe", f"{P}:topicfilter/foo/bar/*"))
TV08 = doc(
    allow("iot:Connect", "*", Condition={"Bool": {"iot:Connection.Thing.IsAttached": ["true"]}})
)
TV09 = doc(
    allow("iot:Connect", "*"),
    allow(
        "iot:Publish",
        "*",
        Condition={
            "ForAllValues:StringEquals": {
                "iot:Certificate.Subject.Organization.List": ["Example Corp", "AnyCompany"]
            }
        },
    ),
)
ADMIN = doc(
    allow(
        "iot:Publish",
        [f"{P}:topic/admin/*"],
        Condition={
            "ForAnyValue:StringEquals": {
                "iot:Certificate.Subject.CommonName.List": "Administrator"
            }
        },
    )
)
ATTRIBUTE = doc(
    allow(
        "iot:Publish",
        [f"{P}:topic/foo/bar", f"{P}:topic/foo/baz"],
        Condition={
            "ForAnyValue:StringLike": {
                "iot:Connection.Thing.Attributes[Manufacturer]": ["foo", "bar", "baz"]
            }
        },
    )
)
OWN_SHADOW = doc(
    allow(
        "iot:Publish", [f"{P}:topic/$aws/things/${{iot:Connection.Thing.ThingName}}/shadow/update"]
    )
)
TYPE_NAME = doc(
    allow(
        "iot:Publish",
        [f"{P}:topic/${{iot:Connection.Thing.ThingTypeName}}/${{iot:Connection.Thing.ThingName}}"],
    )
)
CLIENT_LIST = doc(
    allow("iot:Connect", [f"{P}:client/clientid1", f"{P}:client/clientid2"]),
    allow(["iot:Publish", "iot:Subscribe", "iot:Receive"], ["*"]),
)

button = principal("MyIoTButton", thing_name="MyIoTButton")
CASES: list[tuple[str, dict[str, Any], list[Check]]] = [
    (
        "TV-03 Getting-started button policy",
        TV03,
        [
            Check(
                "CONNECT (any client ID) gives ALLOWED",
                "iot:Connect",
                f"{P}:client/anything",
                principal(),
                "ALLOWED",
            ),
            Check(
                "PUBLISH iotbutton/G030JF055364XVRB gives ALLOWED",
                "iot:Publish",
                f"{P}:topic/iotbutton/G030JF055364XVRB",
                principal(),
                "ALLOWED",
            ),
            Check(
                "PUBLISH iotbutton/G030JF053216F1BS gives IMPLICIT_DENY",
                "iot:Publish",
                f"{P}:topic/iotbutton/G030JF053216F1BS",
                principal(),
                "IMPLICIT_DENY",
            ),
            Check(
                "SUBSCRIBE iotbutton/+ gives IMPLICIT_DENY",
                "iot:Subscribe",
                f"{P}:topicfilter/iotbutton/+",
                principal(),
                "IMPLICIT_DENY",
            ),
        ],
    ),
    (
        "TV-04 Explicit vs implicit deny",
        TV04,
        [
            Check(
                "PUBLISH foo gives ALLOWED",
                "iot:Publish",
                f"{P}:topic/foo",
                principal(),
                "ALLOWED",
            ),
            Check(
                "PUBLISH bar gives EXPLICIT_DENY",
                "iot:Publish",
                f"{P}:topic/bar",
                principal(),
                "EXPLICIT_DENY",
            ),
            Check(
                "PUBLISH baz gives IMPLICIT_DENY",
                "iot:Publish",
                f"{P}:topic/baz",
                principal(),
                "IMPLICIT_DENY",
            ),
        ],
    ),
    (
        "TV-04 variant",
        TV04b,
        [
            Check(
                "Deny Publish topic/foo/bar makes PUBLISH foo/bar EXPLICIT_DENY",
                "iot:Publish",
                f"{P}:topic/foo/bar",
                principal(),
                "EXPLICIT_DENY",
            ),
        ],
    ),
    (
        "TV-05 Connect deny list",
        TV05,
        [
            Check(
                "CONNECT clientId clientid1 gives EXPLICIT_DENY",
                "iot:Connect",
                f"{P}:client/clientid1",
                principal("clientid1"),
                "EXPLICIT_DENY",
            ),
            Check(
                "clientid2 the same",
                "iot:Connect",
                f"{P}:client/clientid2",
                principal("clientid2"),
                "EXPLICIT_DENY",
            ),
            Check(
                "clientid3 gives ALLOWED",
                "iot:Connect",
                f"{P}:client/clientid3",
                principal("clientid3"),
                "ALLOWED",
            ),
        ],
    ),
    (
        "TV-06 ${iot:ClientId} substitution",
        TV06,
        [
            Check(
                "CONNECT gives ALLOWED",
                "iot:Connect",
                f"{Q}:client/100-234-3456",
                principal("100-234-3456"),
                "ALLOWED",
            ),
            Check(
                "PUBLISH foo/bar/100-234-3456 gives ALLOWED",
                "iot:Publish",
                f"{Q}:topic/foo/bar/100-234-3456",
                principal("100-234-3456"),
                "ALLOWED",
            ),
            Check(
                "PUBLISH foo/bar/other gives IMPLICIT_DENY",
                "iot:Publish",
                f"{Q}:topic/foo/bar/other",
                principal("100-234-3456"),
                "IMPLICIT_DENY",
            ),
        ],
    ),
    (
        "TV-07 MQTT wildcards are literal in policies",
        TV07,
        [
            Check(
                "SUBSCRIBE filter foo/+/bar gives ALLOWED",
                "iot:Subscribe",
                f"{P}:topicfilter/foo/+/bar",
                principal(),
                "ALLOWED",
            ),
            Check(
                "SUBSCRIBE foo/baz/bar gives denied",
                "iot:Subscribe",
                f"{P}:topicfilter/foo/baz/bar",
                principal(),
                "IMPLICIT_DENY",
            ),
        ],
    ),
    (
        "TV-07 * policy",
        TV07b,
        [
            Check(
                "topicfilter/foo/bar/* allows SUBSCRIBE foo/bar/baz (ALLOWED)",
                "iot:Subscribe",
                f"{P}:topicfilter/foo/bar/baz",
                principal(),
                "ALLOWED",
            ),
            Check(
                "and does not allow foo/baz (IMPLICIT_DENY)",
                "iot:Subscribe",
                f"{P}:topicfilter/foo/baz",
                principal(),
                "IMPLICIT_DENY",
            ),
        ],
    ),
    (
        "TV-08 Thing attachment condition",
        TV08,
        [
            Check(
                "CONNECT with C and client ID MyIoTButton gives ALLOWED",
                "iot:Connect",
                f"{P}:client/MyIoTButton",
                button,
                "ALLOWED",
            ),
            Check(
                "CONNECT with C and client ID SomeoneElse gives IMPLICIT_DENY",
                "iot:Connect",
                f"{P}:client/SomeoneElse",
                principal("SomeoneElse"),
                "IMPLICIT_DENY",
            ),
        ],
    ),
    (
        "TV-09 Certificate subject condition",
        TV09,
        [
            Check(
                "O=Example Corp publishing anything gives ALLOWED",
                "iot:Publish",
                f"{P}:topic/any/thing",
                principal(subject={"Organization": "Example Corp"}),
                "ALLOWED",
            ),
            Check(
                "O=OtherCorp gives publish IMPLICIT_DENY",
                "iot:Publish",
                f"{P}:topic/any/thing",
                principal(subject={"Organization": "OtherCorp"}),
                "IMPLICIT_DENY",
            ),
            Check(
                "while CONNECT is still ALLOWED",
                "iot:Connect",
                f"{P}:client/client",
                principal(subject={"Organization": "OtherCorp"}),
                "ALLOWED",
            ),
        ],
    ),
    (
        "§3.9 Admin prefix",
        ADMIN,
        [
            Check(
                "Administrator may publish under admin/",
                "iot:Publish",
                f"{P}:topic/admin/reboot",
                principal(subject={"CommonName": "Administrator"}),
                "ALLOWED",
            ),
            Check(
                "others may not",
                "iot:Publish",
                f"{P}:topic/admin/reboot",
                principal(subject={"CommonName": "dev"}),
                "IMPLICIT_DENY",
            ),
            Check(
                "not outside admin/",
                "iot:Publish",
                f"{P}:topic/administrator",
                principal(subject={"CommonName": "Administrator"}),
                "IMPLICIT_DENY",
            ),
        ],
    ),
    (
        "§3.9 Thing attribute",
        ATTRIBUTE,
        [
            Check(
                "Manufacturer foo publishes foo/bar",
                "iot:Publish",
                f"{P}:topic/foo/bar",
                replace(button, thing_attributes={"Manufacturer": "foo"}),
                "ALLOWED",
            ),
            Check(
                "Manufacturer other may not",
                "iot:Publish",
                f"{P}:topic/foo/baz",
                replace(button, thing_attributes={"Manufacturer": "acme"}),
                "IMPLICIT_DENY",
            ),
            Check(
                "no attached thing: no attributes",
                "iot:Publish",
                f"{P}:topic/foo/bar",
                principal(thing_attributes={"Manufacturer": "foo"}),
                "IMPLICIT_DENY",
            ),
        ],
    ),
    (
        "§3.9 Own shadow",
        OWN_SHADOW,
        [
            Check(
                "own shadow update",
                "iot:Publish",
                f"{P}:topic/$aws/things/MyIoTButton/shadow/update",
                button,
                "ALLOWED",
            ),
            Check(
                "another thing's shadow",
                "iot:Publish",
                f"{P}:topic/$aws/things/Other/shadow/update",
                button,
                "IMPLICIT_DENY",
            ),
            Check(
                "unattached: thing variable unresolved",
                "iot:Publish",
                f"{P}:topic/$aws/things/MyIoTButton/shadow/update",
                principal("MyIoTButton"),
                "IMPLICIT_DENY",
            ),
        ],
    ),
    (
        "§3.9 Thing type/name",
        TYPE_NAME,
        [
            Check(
                "type/name",
                "iot:Publish",
                f"{P}:topic/button/MyIoTButton",
                replace(button, thing_type_name="button"),
                "ALLOWED",
            ),
            Check(
                "no type: unresolved, nothing matches",
                "iot:Publish",
                f"{P}:topic//MyIoTButton",
                button,
                "IMPLICIT_DENY",
            ),
        ],
    ),
    (
        "§3.9 Allow a client list",
        CLIENT_LIST,
        [
            Check(
                "listed client connects",
                "iot:Connect",
                f"{P}:client/clientid2",
                principal("clientid2"),
                "ALLOWED",
            ),
            Check(
                "unlisted client does not",
                "iot:Connect",
                f"{P}:client/clientid9",
                principal("clientid9"),
                "IMPLICIT_DENY",
            ),
            Check("receive anything", "iot:Receive", f"{P}:topic/x/y", principal(), "ALLOWED"),
        ],
    ),
]


def outcome(allowed: bool, reason: str) -> str:
    if allowed:
        return "ALLOWED"
    return "EXPLICIT_DENY" if reason.startswith("explicit deny") else "IMPLICIT_DENY"


@pytest.mark.parametrize(
    ("document", "check"),
    [pytest.param(d, c, id=f"{name}: {c.text}") for name, d, checks in CASES for c in checks],
)
def test_policy_vector(document: dict[str, Any], check: Check) -> None:
    policy = parse_policy("vector", document)
    decision = authorize([policy], check.action, check.resource, check.principal)
    assert outcome(decision.allowed, decision.reason) == check.expected
    if check.expected != "IMPLICIT_DENY":
        assert decision.reason.endswith("by vector")
    else:
        assert decision.reason == "no policy allows"


@pytest.mark.parametrize(
    ("text", "topic", "topic_filter", "expected"),
    [
        ("Sensor/# receives Sensor/", "Sensor/", "Sensor/#", True),
        ("Sensor/# receives Sensor/temp", "Sensor/temp", "Sensor/#", True),
        ("Sensor/# receives Sensor/temp/room1", "Sensor/temp/room1", "Sensor/#", True),
        # Guide: "does not receive Sensor"; ours: MQTT 3.1.1 / mosquitto delivers it (decisions doc).
        ("Sensor/# and Sensor (MQTT rule)", "Sensor", "Sensor/#", True),
        ("Sensor/+/room1 receives Sensor/temp/room1", "Sensor/temp/room1", "Sensor/+/room1", True),
        (
            "Sensor/+/room1 receives Sensor/moisture/room1",
            "Sensor/moisture/room1",
            "Sensor/+/room1",
            True,
        ),
        ("+ is one level", "Sensor/a/b/room1", "Sensor/+/room1", False),
        ("# does not match $ topics", "$aws/things/x/shadow/update", "#", False),
        ("$aws/# does", "$aws/things/x/shadow/update", "$aws/#", True),
    ],
)
def test_tv12_topic_wildcard_matching(
    text: str, topic: str, topic_filter: str, expected: bool
) -> None:
    assert topic_matches_filter(topic, topic_filter) is expected, text


@pytest.mark.parametrize(
    ("text", "topic", "operation", "expected"),
    [
        ("TV-11(e) PUBLISH to $foo/bar: terminated", "$foo/bar", "publish", False),
        (
            "TV-11(e) SUBSCRIBE to $aws/anything/else: terminated",
            "$aws/anything/else",
            "subscribe",
            False,
        ),
        (
            "TV-11(e) SUBSCRIBE to $aws/events/presence/connected/x is allowed",
            "$aws/events/presence/connected/x",
            "subscribe",
            True,
        ),
        ("shadow update: Publish/Subscribe", "$aws/things/t1/shadow/update", "publish", True),
        (
            "update/accepted: Subscribe only",
            "$aws/things/t1/shadow/update/accepted",
            "publish",
            False,
        ),
        ("update/accepted: Subscribe", "$aws/things/t1/shadow/update/accepted", "subscribe", True),
        ("jobs notify-next (§3.2 item 11)", "$aws/things/t1/jobs/notify-next", "subscribe", True),
        ("jobs get/# as the guide suggests", "$aws/things/t1/jobs/get/#", "subscribe", True),
        ("jobs update", "$aws/things/t1/jobs/job-1/update", "publish", True),
        (
            "shadow/# is advised against, not refused (ours)",
            "$aws/things/t1/shadow/#",
            "subscribe",
            True,
        ),
        ("$aws/# reaches outside the namespaces", "$aws/#", "subscribe", False),
        ("a wildcard outside them", "$aws/things/t1/other/+", "subscribe", False),
        ("unlisted concrete shadow topic", "$aws/things/t1/shadow/foo", "subscribe", False),
        ("+ for the thing name", "$aws/things/+/shadow/update/delta", "subscribe", True),
        ("$SYS is not for devices", "$SYS/broker/uptime", "subscribe", False),
        ("ordinary topics are not reserved", "iotbutton/G030", "publish", True),
    ],
)
def test_reserved_topics(text: str, topic: str, operation: Any, expected: bool) -> None:
    assert reserved_topic_allowed(topic, operation) is expected, text
