"""Policy → mosquitto ACL: checked against the evaluator with a small model of mosquitto's ACL.

The model encodes what /usr/sbin/mosquitto 2.0.11 did in our experiment (docs/cloud-decisions.md):
deny lines first, whatever their order, and they deny read and write; then any matching line whose
access includes the requested one allows; otherwise denied. `a/#` matches `a`, `+` matches an
empty level, wildcards at the first level never match `$` topics.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rig.cloud.auth.acl import AclResult, acl_for, intersect_results, render_acl_file
from rig.cloud.policies.engine import Principal, authorize, parse_policy, reserved_topic_allowed

P = "arn:aws:iot:us-east-1:123456789012"
DEV = Principal(
    client_id="dev",
    thing_name="dev",
    certificate_id="c" * 64,
    subject={"CommonName": "dev", "Organization": "Example Corp"},
    issuer={"CommonName": "Rig CA"},
    thing_attributes={"Manufacturer": "foo"},
    region="us-east-1",
    account="123456789012",
)


def mqtt_match(flt: str, topic: str) -> bool:
    f, t = flt.split("/"), topic.split("/")
    if t[0].startswith("$") and f[0] in ("+", "#"):
        return False
    for i, level in enumerate(f):
        if level == "#":
            return True
        if i >= len(t) or level not in ("+", t[i]):
            return False
    return len(f) == len(t)


def acl_allows(lines: list[str], access: str, topic: str) -> bool:
    entries = [line.split(" ", 2)[1:] for line in lines]
    assert all(line.startswith("topic ") for line in lines)
    if any(kind == "deny" and mqtt_match(flt, topic) for kind, flt in entries):
        return False
    return any(
        mqtt_match(flt, topic) and (kind == access or kind == "readwrite") for kind, flt in entries
    )


def policy_allows(policies: list[Any], access: str, topic: str, who: Principal) -> bool:
    if access == "write":
        return authorize(policies, "iot:Publish", f"{P}:topic/{topic}", who).allowed and (
            reserved_topic_allowed(topic, "publish")
        )
    return (
        authorize(policies, "iot:Subscribe", f"{P}:topicfilter/{topic}", who).allowed
        and authorize(policies, "iot:Receive", f"{P}:topic/{topic}", who).allowed
        and reserved_topic_allowed(topic, "subscribe")
    )


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def st_(effect: str, action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": effect, "Action": action, "Resource": resource, **extra}


SHADOW = "$aws/things/dev/shadow"
EXAMPLES: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "TV-03 button policy",
        doc(
            st_("Allow", "iot:Connect", "*"),
            st_("Allow", "iot:Publish", f"{P}:topic/iotbutton/G030JF055364XVRB"),
        ),
        ["iotbutton/G030JF055364XVRB", "iotbutton/G030JF053216F1BS", "iotbutton/+"],
    ),
    (
        "TV-04 explicit vs implicit deny",
        doc(
            st_("Allow", "iot:Publish", f"{P}:topic/foo"),
            st_("Deny", "iot:Publish", f"{P}:topic/bar"),
        ),
        ["foo", "bar", "baz"],
    ),
    (
        "TV-06 ClientId",
        doc(st_("Allow", "iot:Publish", f"{P}:topic/foo/bar/${{iot:ClientId}}")),
        ["foo/bar/dev", "foo/bar/other"],
    ),
    (
        "TV-07 topicfilter/foo/bar/*",
        doc(
            st_(
                "Allow",
                ["iot:Subscribe", "iot:Receive"],
                [f"{P}:topicfilter/foo/bar/*", f"{P}:topic/foo/bar/*"],
            )
        ),
        ["foo/bar/baz", "foo/baz", "foo/bar", "foo/bar/", "foo/bar/a/b"],
    ),
    (
        "TV-09 organisation",
        doc(
            st_(
                "Allow",
                "iot:Publish",
                "*",
                Condition={
                    "ForAllValues:StringEquals": {
                        "iot:Certificate.Subject.Organization.List": ["Example Corp", "AnyCompany"]
                    }
                },
            )
        ),
        ["any/thing", "x", f"{SHADOW}/update", f"{SHADOW}/update/accepted", "$foo/bar"],
    ),
    (
        "§3.9 own shadow",
        doc(
            st_(
                "Allow",
                "iot:Publish",
                [f"{P}:topic/$aws/things/${{iot:Connection.Thing.ThingName}}/shadow/update"],
            )
        ),
        [f"{SHADOW}/update", "$aws/things/other/shadow/update"],
    ),
    (
        "§3.9 thing attribute",
        doc(
            st_(
                "Allow",
                "iot:Publish",
                [f"{P}:topic/foo/bar", f"{P}:topic/foo/baz"],
                Condition={
                    "ForAnyValue:StringLike": {
                        "iot:Connection.Thing.Attributes[Manufacturer]": ["foo", "bar", "baz"]
                    }
                },
            )
        ),
        ["foo/bar", "foo/baz", "foo/qux"],
    ),
    (
        "§3.9 client list, all topics",
        doc(st_("Allow", ["iot:Publish", "iot:Subscribe", "iot:Receive"], ["*"])),
        [
            "a",
            "a/b",
            f"{SHADOW}/get",
            f"{SHADOW}/get/accepted",
            "$aws/events/presence/connected/x",
            "$aws/x",
            "$SYS/x",
        ],
    ),
    (
        "device policy",
        doc(
            st_(
                "Allow",
                "iot:Publish",
                [
                    f"{P}:topic/iotbutton/${{iot:ClientId}}",
                    f"{P}:topic/$aws/things/${{iot:Connection.Thing.ThingName}}/*",
                ],
            ),
            st_(
                "Allow",
                "iot:Subscribe",
                f"{P}:topicfilter/$aws/things/${{iot:Connection.Thing.ThingName}}/*",
            ),
            st_(
                "Allow",
                "iot:Receive",
                f"{P}:topic/$aws/things/${{iot:Connection.Thing.ThingName}}/*",
            ),
            st_(
                "Deny",
                "iot:Publish",
                f"{P}:topic/$aws/things/${{iot:Connection.Thing.ThingName}}/shadow/delete",
            ),
        ),
        [
            "iotbutton/dev",
            "iotbutton/x",
            f"{SHADOW}/update",
            f"{SHADOW}/delete",
            f"{SHADOW}/update/delta",
            "$aws/things/dev/jobs/notify-next",
            "$aws/things/dev/jobs/j1/update",
            "$aws/things/x/shadow/update",
        ],
    ),
]


@pytest.mark.parametrize(("name", "document", "topics"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_examples_are_exact_on_the_topics_they_name(
    name: str, document: dict[str, Any], topics: list[str]
) -> None:
    policies = [parse_policy("p", document)]
    result = acl_for(DEV, policies, "dev")
    for topic in topics:
        if "+" in topic:
            continue  # not a topic name: nothing can be published or delivered there
        for access in ("read", "write"):
            assert acl_allows(result.lines, access, topic) == policy_allows(
                policies, access, topic, DEV
            ), (name, access, topic, result.lines)


def test_deny_only_where_it_cuts_into_an_allow() -> None:
    policies = [parse_policy("p", EXAMPLES[1][1])]
    assert acl_for(DEV, policies, "dev").lines == ["topic write foo"]


def test_publish_deny_under_allow_all_is_reported() -> None:
    document = doc(st_("Allow", "iot:*", "*"), st_("Deny", "iot:Publish", f"{P}:topic/bar"))
    result = acl_for(DEV, [parse_policy("p", document)], "dev")
    assert "topic deny bar" in result.lines and "topic readwrite #" in result.lines
    assert any("also blocks receiving" in note for note in result.approximations)


@pytest.mark.parametrize(
    ("resource", "kept", "lost"),
    [
        ("admin*", ["admin", "admin/x"], ["adminx"]),
        ("a/*/b", ["a/x/b"], ["a/x/y/b"]),
        ("dev?/x", [], ["dev1/x"]),
        ("*b", [], ["ab"]),
    ],
)
def test_inexpressible_globs_are_narrowed_and_reported(
    resource: str, kept: list[str], lost: list[str]
) -> None:
    policies = [parse_policy("p", doc(st_("Allow", "iot:Publish", f"{P}:topic/{resource}")))]
    result = acl_for(DEV, policies, "dev")
    assert result.approximations
    for topic in kept:
        assert acl_allows(result.lines, "write", topic)
    for topic in lost:
        assert policy_allows(policies, "write", topic, DEV) and not acl_allows(
            result.lines, "write", topic
        )


def test_deny_globs_are_widened() -> None:
    document = doc(
        st_("Allow", "iot:Publish", "*"), st_("Deny", "iot:Publish", f"{P}:topic/a/dev?/x")
    )
    result = acl_for(DEV, [parse_policy("p", document)], "dev")
    assert "topic deny a/+/x" in result.lines
    assert not acl_allows(result.lines, "write", "a/dev1/x")


def test_unresolvable_variables_grant_nothing() -> None:
    document = doc(st_("Allow", "iot:Publish", f"{P}:topic/t/${{iot:Connection.Thing.ThingName}}"))
    unattached = replace(DEV, thing_name=None)
    assert acl_for(unattached, [parse_policy("p", document)], "dev").lines == []


def test_render_acl_file() -> None:
    text = render_acl_file([AclResult("dev", ["topic write a"], ["note"])], "cloud")
    assert text.splitlines() == [
        "# Generated by rig.cloud.acl from the IoT policies; do not edit.",
        "user cloud",
        "topic readwrite #",
        "topic readwrite $aws/#",
        "topic readwrite $SYS/#",
        "",
        "# approximation: 'note'",
        "user dev",
        "topic write a",
    ]
    with pytest.raises(ValueError, match="twice"):
        render_acl_file([AclResult("dev"), AclResult("dev")], "cloud")
    with pytest.raises(ValueError, match="cannot appear"):
        render_acl_file([AclResult("bad\nuser")], "cloud")
    with pytest.raises(ValueError, match="cannot appear"):
        acl_for(DEV, [], "two words")


# ---------------------------------------------------------------- never broader than the evaluator

LEVELS = [
    "a",
    "a",
    "b",
    "dev",
    "$aws",
    "things",
    "shadow",
    "update",
    "",
    "*",
    "*",
    "?",
    "a*",
    "*b",
    "d?v",
    "${iot:ClientId}",
    "${iot:Connection.Thing.ThingName}",
    "${iot:Connection.Thing.Attributes[Manufacturer]}",
    "${iot:Nope}",
    "+",
    "#",
]
PREFIXES = (
    [f"{P}:topic/"] * 4
    + [f"{P}:topicfilter/"] * 3
    + ["arn:aws:iot:*:*:topic/", f"{P}:*", "*", "arn:*/", f"{P}:topic*"]
)
ACTIONS = ["iot:Publish", "iot:Subscribe", "iot:Receive", "iot:*", "*", "iot:Connect", "iot:P*"]
CONDITIONS = [
    None,
    {"StringEquals": {"iot:ClientId": "dev"}},
    {"StringEquals": {"iot:ClientId": "other"}},
]

resources = st.builds(
    lambda prefix, levels: prefix + "/".join(levels),
    st.sampled_from(PREFIXES),
    st.lists(st.sampled_from(LEVELS), max_size=5),
)
statements = st.builds(
    lambda effect, actions, res, cond: {
        "Effect": effect,
        "Action": actions,
        "Resource": res,
        **({"Condition": cond} if cond else {}),
    },
    st.sampled_from(["Allow", "Allow", "Deny"]),
    st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=2),
    st.lists(resources, min_size=1, max_size=3),
    st.sampled_from(CONDITIONS),
)
TOPIC_LEVELS = [
    "a",
    "b",
    "dev",
    "foo",
    "x",
    "",
    "$aws",
    "things",
    "shadow",
    "update",
    "accepted",
    "jobs",
    "notify",
    "events",
    "ab",
    "dxv",
    "$SYS",
]
topics = st.lists(st.sampled_from(TOPIC_LEVELS), min_size=1, max_size=6).map("/".join).filter(bool)


def probes_from(raw: list[dict[str, Any]], lines: list[str]) -> set[str]:
    """Topics near the policy's resources and the ACL's filters, where a mistake would show."""
    out: set[str] = set()
    texts = [r for s in raw for r in s["Resource"]]
    for text in texts:
        tail = text.split(":topicfilter/")[-1].split(":topic/")[-1]
        for name, value in (
            ("${iot:ClientId}", "dev"),
            ("${iot:Connection.Thing.ThingName}", "dev"),
            ("${iot:Connection.Thing.Attributes[Manufacturer]}", "foo"),
        ):
            tail = tail.replace(name, value)
        for star in ("", "x", "x/y"):
            out.add(tail.replace("*", star).replace("?", "x"))
    for line in lines:
        flt = line.split(" ", 2)[2]
        out.update(
            {flt.replace("+", "q").removesuffix("/#"), flt.replace("+", "").replace("#", "z")}
        )
    return {t for t in out if t and "+" not in t and "#" not in t and "${" not in t}


@given(st.lists(statements, min_size=1, max_size=3), st.lists(topics, max_size=10))
@example([st_("Allow", ["iot:Publish"], [f"{P}:topic/a/*"])], [])
@example(
    [st_("Allow", ["iot:*"], ["*"]), st_("Deny", ["iot:Publish"], [f"{P}:topic/a/dev?/x"])], []
)
@example(
    [
        st_("Allow", ["iot:Subscribe"], [f"{P}:topicfilter/*"]),
        st_("Allow", ["iot:Receive"], [f"{P}:topic/a/b"]),
    ],
    ["a/c"],
)
@settings(max_examples=400, deadline=None)
def test_acl_is_never_broader_than_the_evaluator(
    raw: list[dict[str, Any]], probe: list[str]
) -> None:
    policies = [parse_policy("p", doc(*raw))]
    lines = acl_for(DEV, policies, "dev").lines
    for topic in set(probe) | probes_from(raw, lines):
        for access in ("read", "write"):
            if acl_allows(lines, access, topic):
                assert policy_allows(policies, access, topic, DEV), (access, topic, lines)


@given(
    st.lists(statements, min_size=1, max_size=3),
    st.lists(statements, min_size=1, max_size=3),
    st.lists(topics, max_size=10),
)
@settings(max_examples=80, deadline=None)
def test_intersected_blocks_allow_exactly_what_both_allow(
    raw_a: list[dict[str, Any]], raw_b: list[dict[str, Any]], probe: list[str]
) -> None:
    first = acl_for(DEV, [parse_policy("a", doc(*raw_a))], "dev")
    second = acl_for(DEV, [parse_policy("b", doc(*raw_b))], "dev")
    common = intersect_results(first, second)
    candidates = set(probe) | probes_from(raw_a, first.lines) | probes_from(raw_b, second.lines)
    for topic in candidates:
        for access in ("read", "write"):
            expected = acl_allows(first.lines, access, topic) and acl_allows(
                second.lines, access, topic
            )
            assert acl_allows(common.lines, access, topic) == expected, (
                access,
                topic,
                common.lines,
            )


def test_intersect_refuses_foreign_blocks_and_lines() -> None:
    with pytest.raises(ValueError, match="cannot intersect"):
        intersect_results(AclResult("a"), AclResult("b"))
    with pytest.raises(ValueError, match="not an ACL line"):
        intersect_results(AclResult("a", ["pattern read %u/#"]), AclResult("a"))
