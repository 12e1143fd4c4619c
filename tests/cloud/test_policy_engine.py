"""Policy evaluator: grammar errors, wildcards, variables, conditions, topic-filter validation."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rig.cloud.policies.engine import (
    PolicyError,
    Principal,
    authorize,
    glob_matches,
    glob_of,
    parse_policy,
    topic_matches_filter,
)

P = "arn:aws:iot:us-east-1:123456789012"
WHO = Principal(
    client_id="dev-1",
    thing_name="dev-1",
    certificate_id="ab" * 32,
    subject={"CommonName": "dev-1", "Organization": "Acme"},
    issuer={"CommonName": "Rig CA"},
    thing_attributes={"room": "kitchen"},
    region="us-east-1",
    account="123456789012",
)


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allowed(document: dict[str, Any], action: str, resource: str, who: Principal = WHO) -> bool:
    return authorize([parse_policy("p", document)], action, resource, who).allowed


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        # The guide's own malformed examples (spec-core §3.9) are doc errors, not grammar.
        (doc({"Effect": "Allow", "Action": "iot:Subscribe", "TopicFilter": "a/b"}), "TopicFilter"),
        (doc({"Effect": "Allow", "Action": ["iot:>"], "Resource": "*"}), "iot:>"),
        ({"Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}, "Version"),
        (doc({"Effect": "Permit", "Action": "iot:*", "Resource": "*"}), "Effect"),
        (doc({"Effect": "Allow", "Action": "iot:*"}), "Resource"),
        (doc({"Effect": "Allow", "Action": [], "Resource": "*"}), "Action"),
        (doc({"Effect": "Allow", "NotAction": "iot:Connect", "Resource": "*"}), "NotAction"),
        (
            doc(
                {
                    "Effect": "Allow",
                    "Action": "iot:*",
                    "Resource": "*",
                    "Condition": {"NumericLessThan": {"a": "1"}},
                }
            ),
            "NumericLessThan",
        ),
        ({"Version": "2012-10-17", "Statement": []}, "Statement"),
        (
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}] * 80,
            },
            "2048",
        ),
    ],
)
def test_malformed_documents_name_the_problem(document: dict[str, Any], problem: str) -> None:
    with pytest.raises(PolicyError, match=re.escape(problem)):
        parse_policy("p", document)


def test_bad_json_text_and_bad_name() -> None:
    with pytest.raises(PolicyError, match="JSON"):
        parse_policy("p", "{not json")
    with pytest.raises(PolicyError, match="name"):
        parse_policy("has space", doc({"Effect": "Allow", "Action": "iot:*", "Resource": "*"}))


def test_non_json_objects_are_policy_errors() -> None:
    with pytest.raises(PolicyError, match="not JSON data"):
        parse_policy("p", {"Version": "2012-10-17", "Statement": {1, 2}})
    with pytest.raises(PolicyError, match="JSON object"):
        parse_policy("p", "[]")


def test_text_and_object_forms_agree_and_single_statement_object_is_accepted() -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": {"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{P}:topic/a"},
    }
    from_text = parse_policy("p", json.dumps(document, indent=4))
    assert from_text == parse_policy("p", document)
    assert authorize([from_text], "iot:Publish", f"{P}:topic/a", WHO).allowed


def test_actions_are_case_insensitive_and_wildcarded() -> None:
    lower = doc({"Effect": "Allow", "Action": ["iot:publish"], "Resource": "*"})
    assert allowed(lower, "iot:Publish", f"{P}:topic/x")
    star = doc({"Effect": "Allow", "Action": "iot:*", "Resource": "*"})
    assert allowed(star, "iot:Receive", f"{P}:topic/x")
    pattern = doc({"Effect": "Allow", "Action": "iot:*Shadow", "Resource": "*"})
    assert allowed(pattern, "iot:GetThingShadow", f"{P}:thing/x")
    assert not allowed(pattern, "iot:Publish", f"{P}:topic/x")


def test_question_mark_matches_one_character_and_star_crosses_levels() -> None:
    document = doc(
        {
            "Effect": "Allow",
            "Action": "iot:Publish",
            "Resource": [f"{P}:topic/dev?/x", f"{P}:topic/a/*/z"],
        }
    )
    assert allowed(document, "iot:Publish", f"{P}:topic/dev1/x")
    assert not allowed(document, "iot:Publish", f"{P}:topic/dev12/x")
    assert allowed(document, "iot:Publish", f"{P}:topic/a/b/c/z")


def test_resources_are_case_sensitive() -> None:
    document = doc(
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{P}:topic/iotbutton/*"}
    )
    assert not allowed(
        document, "iot:Publish", f"{P}:topic/iotButton/x"
    )  # spec-core contradiction 14


def test_deny_in_one_policy_beats_allow_in_another() -> None:
    allow_all = parse_policy("all", doc({"Effect": "Allow", "Action": "iot:*", "Resource": "*"}))
    block = parse_policy(
        "block",
        doc({"Effect": "Deny", "Action": "iot:Publish", "Resource": f"{P}:topic/secret/*"}),
    )
    decision = authorize([allow_all, block], "iot:Publish", f"{P}:topic/secret/x", WHO)
    assert decision.allowed is False and decision.reason == "explicit deny by block"
    assert (
        authorize([allow_all, block], "iot:Receive", f"{P}:topic/secret/x", WHO).reason
        == "allowed by all"
    )
    assert authorize([], "iot:Connect", f"{P}:client/x", WHO).reason == "no policy allows"


@pytest.mark.parametrize(
    ("variable", "topic", "expected"),
    [
        ("${iot:ClientId}", "t/dev-1", True),
        ("${iot:CertificateId}", "t/" + "ab" * 32, True),
        ("${iot:Connection.Thing.ThingName}", "t/dev-1", True),
        ("${iot:Connection.Thing.Attributes[room]}", "t/kitchen", True),
        ("${iot:Connection.Thing.Attributes[floor]}", "t/", False),
        ("${iot:Certificate.Subject.CommonName}", "t/dev-1", True),
        ("${iot:Certificate.Subject.Organization#0}", "t/Acme", True),
        ("${iot:Certificate.Subject.Organization.1}", "t/Acme", False),
        ("${iot:Certificate.Issuer.CommonName}", "t/Rig CA", True),
        ("${iot:Certificate.Subject.Organization.List}", "t/Acme", False),  # multi-valued
        ("${iot:Nonsense}", "t/${iot:Nonsense}", False),  # unresolved: no statement match
        ("${*}", "t/*", True),
        ("${*}", "t/x", False),
    ],
)
def test_policy_variables(variable: str, topic: str, expected: bool) -> None:
    document = doc(
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{P}:topic/t/{variable}"}
    )
    assert allowed(document, "iot:Publish", f"{P}:topic/{topic}") is expected


def test_variable_values_with_wildcards_are_not_substituted() -> None:
    document = doc(
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{P}:topic/t/${{iot:ClientId}}"}
    )
    sneaky = replace(WHO, client_id="*")
    assert not allowed(document, "iot:Publish", f"{P}:topic/t/anything", sneaky)
    assert not allowed(document, "iot:Publish", f"{P}:topic/t/*", sneaky)


def test_unresolved_variable_in_a_deny_does_not_deny() -> None:
    document = doc(
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": "*"},
        {
            "Effect": "Deny",
            "Action": "iot:Publish",
            "Resource": f"{P}:topic/${{iot:Connection.Thing.ThingName}}/*",
        },
    )
    unattached = replace(WHO, thing_name=None)
    assert not allowed(document, "iot:Publish", f"{P}:topic/dev-1/x")
    assert allowed(document, "iot:Publish", f"{P}:topic/dev-1/x", unattached)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"StringEquals": {"iot:Certificate.Subject.Organization": "Acme"}}, True),
        ({"StringEquals": {"iot:Certificate.Subject.Organization": ["Other", "Acme"]}}, True),
        ({"StringNotEquals": {"iot:Certificate.Subject.Organization": "Acme"}}, False),
        ({"StringEqualsIgnoreCase": {"iot:Certificate.Subject.Organization": "ACME"}}, True),
        ({"StringLike": {"iot:ClientId": "dev-?"}}, True),
        ({"StringNotLike": {"iot:ClientId": "dev-*"}}, False),
        ({"StringEquals": {"iot:Certificate.Subject.Country": "DE"}}, False),  # missing key
        ({"StringEqualsIfExists": {"iot:Certificate.Subject.Country": "DE"}}, True),
        ({"StringNotEquals": {"iot:Certificate.Subject.Country": "DE"}}, True),
        ({"ForAllValues:StringEquals": {"iot:Certificate.Subject.Country.List": ["DE"]}}, True),
        ({"ForAnyValue:StringEquals": {"iot:Certificate.Subject.Country.List": ["DE"]}}, False),
        ({"Null": {"iot:Certificate.Subject.Country": "true"}}, True),
        ({"Bool": {"iot:Connection.Thing.IsAttached": True}}, True),
        ({"StringEquals": {"iot:Connection.Thing.ThingName": "${iot:ClientId}"}}, True),
        ({"StringEquals": {"iot:ClientId": "dev-1"}, "StringLike": {"iot:ClientId": "x*"}}, False),
    ],
)
def test_conditions(condition: dict[str, Any], expected: bool) -> None:
    document = doc(
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*", "Condition": condition}
    )
    assert allowed(document, "iot:Connect", f"{P}:client/dev-1") is expected


@pytest.mark.parametrize("bad", ["a/#/b", "a/b#", "a+/b", ""])
def test_invalid_filters_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="filter"):
        topic_matches_filter("a/b", bad)


def test_wildcards_are_not_valid_in_topic_names() -> None:
    with pytest.raises(ValueError, match="topic name"):
        topic_matches_filter("a/+", "a/+")


def reference_glob(pattern: str, text: str) -> bool:
    """Independent matcher: dynamic programming over the pattern characters."""
    reach = {0}
    for ch in text:
        nxt: set[int] = set()
        for i in sorted(_closure(pattern, reach)):
            if i < len(pattern) and (pattern[i] == "*"):
                nxt.add(i)
            elif i < len(pattern) and (pattern[i] == "?" or pattern[i] == ch):
                nxt.add(i + 1)
        reach = nxt
    return len(pattern) in _closure(pattern, reach)


def _closure(pattern: str, states: set[int]) -> set[int]:
    out = set(states)
    for i in sorted(states):
        j = i
        while j < len(pattern) and pattern[j] == "*":
            j += 1
            out.add(j)
    return out


@given(st.text("ab*?/+#", max_size=8), st.text("ab/+#", max_size=8))
@settings(max_examples=400, deadline=None)
def test_glob_matches_agrees_with_a_reference(pattern: str, text: str) -> None:
    assert glob_matches(glob_of(pattern), text) == reference_glob(pattern, text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                ["Effect", "Action", "Resource", "Condition", "StringLike", "iot:ClientId", "x"]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=15,
)


@given(st.dictionaries(st.sampled_from(["Version", "Statement", "Id", "x"]), json_values))
@settings(max_examples=300, deadline=None)
def test_arbitrary_documents_parse_or_raise_policy_error(document: dict[str, Any]) -> None:
    document.setdefault("Version", "2012-10-17")
    try:
        policy = parse_policy("p", document)
    except PolicyError:
        return
    for action in ("iot:Connect", "iot:Publish"):
        authorize([policy], action, f"{P}:topic/a", WHO)
