"""The provisioning template language (rig/cloud/provisioning/engine.py), without a cloud: the
guide's template example, its intrinsic functions, conditions, and the refusals."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rig.cloud.provisioning.engine import TemplateError, parse_template, policy_name_of, resolve

GUIDE_POLICY = (
    '{ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Action":["iot:Publish"],'
    ' "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/foo/bar"] }] }'
)


def template(resources: dict, **sections: dict) -> dict:
    return parse_template(json.dumps({**sections, "Resources": resources}))


def thing(**properties: object) -> dict:
    return {"thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": "t1", **properties}}}


def test_the_guides_template_example_resolves_with_its_parameters_and_default() -> None:
    parsed = template(
        {
            "thing": {
                "Type": "AWS::IoT::Thing",
                "Properties": {
                    "ThingName": {"Ref": "ThingName"},
                    "AttributePayload": {"version": "v1", "serialNumber": {"Ref": "SerialNumber"}},
                    "ThingTypeName": "lightBulb-versionA",
                    "ThingGroups": ["v1-lightbulbs", {"Ref": "Location"}],
                },
            },
            "certificate": {
                "Type": "AWS::IoT::Certificate",
                "Properties": {"CertificateSigningRequest": {"Ref": "CSR"}, "Status": "ACTIVE"},
            },
            "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": GUIDE_POLICY}},
        },
        Parameters={
            "ThingName": {"Type": "String"},
            "SerialNumber": {"Type": "String"},
            "Location": {"Type": "String", "Default": "WA"},
            "CSR": {"Type": "String"},
        },
    )
    plan = resolve(parsed, {"ThingName": "MyProvisionedThing", "SerialNumber": "123", "CSR": "c"})
    assert plan.thing is not None and plan.certificate is not None
    assert plan.thing.thing_name == "MyProvisionedThing"
    assert plan.thing.attributes == {"version": "v1", "serialNumber": "123"}
    assert plan.thing.thing_groups == ["v1-lightbulbs", "WA"]  # the Default
    assert plan.certificate.csr == "c" and plan.certificate.status == "ACTIVE"
    [policy] = plan.policies
    assert policy.document == GUIDE_POLICY
    # "PolicyName: Defaults to a hash of the policy document" (40 hex digits, as the guide's ARN)
    assert policy.policy_name == policy_name_of(GUIDE_POLICY) and len(policy.policy_name) == 40
    given = resolve(parsed, {"ThingName": "x", "SerialNumber": "1", "CSR": "c", "Location": "OR"})
    assert given.thing is not None and given.thing.thing_groups == ["v1-lightbulbs", "OR"]


def test_join_sub_split_select_and_find_in_map() -> None:
    parsed = template(
        thing(
            ThingName={"Fn::Join": ["-", ["bulb", {"Ref": "Serial"}]]},
            ThingTypeName={"Fn::Sub": "type-${Region}-${!Literal}"},
            AttributePayload={
                "second": {"Fn::Select": [1, {"Fn::Split": [",", {"Ref": "Parts"}]}]},
                "url": {"Fn::FindInMap": ["Urls", {"Ref": "Region"}, "Url"]},
                "mapped": {"Fn::Sub": ["${a}/${Serial}", {"a": "x"}]},
                "listed": {"Fn::Select": ["0", {"Ref": "Items"}]},
            },
        ),
        Parameters={
            "Serial": {"Type": "String"},
            "Region": {"Type": "String", "Default": "eu"},
            "Parts": {"Type": "String"},
            "Items": {"Type": "CommaDelimitedList"},
        },
        Mappings={"Urls": {"eu": {"Url": "https://eu.example"}}},
    )
    plan = resolve(parsed, {"Serial": "42", "Parts": "a,b,c", "Items": "p,q"})
    assert plan.thing is not None
    assert plan.thing.thing_name == "bulb-42"
    assert plan.thing.thing_type_name == "type-eu-${Literal}"
    assert plan.thing.attributes == {
        "second": "b",
        "url": "https://eu.example",
        "mapped": "x/42",
        "listed": "p",
    }


def test_conditions_choose_values_and_resources() -> None:
    parsed = template(
        {
            **thing(
                ThingTypeName={"Fn::If": ["Lamp", "lamp-type", {"Ref": "AWS::NoValue"}]},
                AttributePayload={"kind": {"Fn::If": ["Lamp", "lamp", "other"]}},
            ),
            "certificate": {
                "Type": "AWS::IoT::Certificate",
                "Condition": "HasCertificate",
                "Properties": {"CertificateId": {"Ref": "CertificateId"}},
            },
        },
        Parameters={
            "Kind": {"Type": "String"},
            "CertificateId": {"Type": "String", "Default": ""},
        },
        Conditions={
            "Lamp": {"Fn::Equals": [{"Ref": "Kind"}, "lamp"]},
            "HasCertificate": {"Fn::Not": [{"Fn::Equals": [{"Ref": "CertificateId"}, ""]}]},
            "Both": {"Fn::And": [{"Condition": "Lamp"}, {"Condition": "HasCertificate"}]},
        },
    )
    lamp = resolve(parsed, {"Kind": "lamp"})
    assert lamp.thing is not None and lamp.thing.thing_type_name == "lamp-type"
    assert lamp.thing.attributes == {"kind": "lamp"}
    assert lamp.certificate is None  # its Condition is false
    other = resolve(parsed, {"Kind": "fan", "CertificateId": "ab" * 32})
    assert other.thing is not None and other.thing.thing_type_name is None  # AWS::NoValue
    assert other.certificate is not None and other.certificate.certificate_id == "ab" * 32


@pytest.mark.parametrize(
    ("resources", "parameters", "message"),
    [
        (thing(ThingName={"Ref": "Nope"}), {}, "Ref 'Nope' names no parameter"),
        (thing(ThingName={"Fn::GetAtt": ["a", "b"]}), {}, "Fn::GetAtt is not supported"),
        (thing(ThingName={"Fn::Base64": "x"}), {}, "Fn::Base64 is not supported"),
        (thing(ThingName={"Ref": "Serial"}), {}, "parameter Serial has no value"),
        (thing(ThingName={"Fn::Select": [3, ["a"]]}), {"Serial": "1"}, "outside the list"),
        (thing(BillingGroup="b"), {}, "unsupported property BillingGroup"),
        ({"x": {"Type": "AWS::S3::Bucket"}}, {}, "Type 'AWS::S3::Bucket' is not one of"),
        (
            {"p": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "a"}}},
            {},
            "needs a certificate resource",
        ),
        (
            {
                "c": {
                    "Type": "AWS::IoT::Certificate",
                    "Properties": {"CertificateSigningRequest": "a", "CertificateId": "b"},
                }
            },
            {},
            "exactly one of",
        ),
    ],
)
def test_refusals_name_the_problem(resources: dict, parameters: dict, message: str) -> None:
    parsed = template(resources, Parameters={"Serial": {"Type": "String"}})
    with pytest.raises(TemplateError, match=message):
        resolve(parsed, parameters)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "must be a JSON object"),
        ('{"Parameters": {}}', "no Resources section"),
        ('{"Resources": {"a": {}}, "Outputs": {}}', "Unknown template section"),
        ('{"Parameters": {"a": {"Type": "Bogus"}}, "Resources": {"a": {}}}', "Type must be"),
    ],
)
def test_templates_that_do_not_parse(body: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        parse_template(body)


FUNCTION_NAMES = (
    "Ref",
    "Fn::Join",
    "Fn::Select",
    "Fn::FindInMap",
    "Fn::Split",
    "Fn::Sub",
    "Fn::If",
    "Fn::Equals",
    "Fn::Not",
    "Fn::And",
    "Fn::Or",
    "Condition",
    "Fn::GetAtt",
)
_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from(["", "a", "P", "C", ",", "${P}", "${!x}", "${", "AWS::NoValue", "M"]),
)
_values = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(FUNCTION_NAMES), inner, min_size=1, max_size=1),
        st.dictionaries(st.sampled_from(["a", "P", "x"]), inner, max_size=3),
    ),
    max_leaves=12,
)
_properties = st.dictionaries(
    st.sampled_from(
        [
            "ThingName",
            "AttributePayload",
            "ThingTypeName",
            "ThingGroups",
            "CertificateSigningRequest",
            "CertificateId",
            "Status",
            "PolicyName",
            "PolicyDocument",
        ]
    ),
    _values,
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(
    kinds=st.lists(
        st.sampled_from(["AWS::IoT::Thing", "AWS::IoT::Certificate", "AWS::IoT::Policy"]),
        min_size=1,
        max_size=3,
    ),
    properties=st.lists(_properties, min_size=3, max_size=3),
    conditions=st.dictionaries(st.sampled_from(["C", "D"]), _values, max_size=2),
    parameters=st.dictionaries(
        st.sampled_from(["P", "Q"]), st.sampled_from(["", "a,b", "1"]), max_size=2
    ),
)
def test_any_template_resolves_or_is_refused_with_a_template_error(
    kinds: list[str], properties: list[dict], conditions: dict, parameters: dict
) -> None:
    """Never another exception (it would be a traceback in the CLI, an error line lost in bulk)."""
    resources = {
        f"r{i}": {"Type": kind, "Properties": properties[i]} for i, kind in enumerate(kinds)
    }
    body = json.dumps(
        {
            "Parameters": {"P": {"Type": "String"}, "Q": {"Type": "CommaDelimitedList"}},
            "Mappings": {"M": {"a": {"P": "v"}}},
            "Conditions": conditions,
            "Resources": resources,
        }
    )
    try:
        resolve(parse_template(body), parameters)
    except TemplateError:
        pass
