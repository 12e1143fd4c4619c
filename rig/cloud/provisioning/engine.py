"""Provisioning templates: parse, check and resolve one against a parameter set (pure).

The language is the AWS IoT Developer Guide's ("Provisioning templates"): a `Parameters` section
(each with a `Type` and an optional `Default`), a `Resources` section of `AWS::IoT::Thing`,
`AWS::IoT::Certificate` and `AWS::IoT::Policy`, references `{"Ref": "<parameter>"}` and the
intrinsic functions the guide lists: `Fn::Join`, `Fn::Select`, `Fn::FindInMap` (over a
`Mappings` section), `Fn::Split` and `Fn::Sub`. `Fn::If` with a `Conditions` section (and the
condition functions `Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or`, `Condition`) and the pseudo
parameter `AWS::NoValue` follow AWS CloudFormation's definitions, whose syntax the guide's
functions share (docs/cloud-decisions.md PV-3). Any other function is refused by name, never
passed through as data.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

RESOURCE_TYPES = ("AWS::IoT::Thing", "AWS::IoT::Certificate", "AWS::IoT::Policy")
SECTIONS = ("AWSTemplateFormatVersion", "Parameters", "Mappings", "Conditions", "Resources")
# CloudFormation also has Number lists and AWS-specific types; the guide shows String only.
PARAMETER_TYPES = ("String", "Number", "CommaDelimitedList")
VALUE_FUNCTIONS = ("Fn::Join", "Fn::Select", "Fn::FindInMap", "Fn::Split", "Fn::Sub", "Fn::If")
CONDITION_FUNCTIONS = ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or")
NO_VALUE = "AWS::NoValue"
THING_PROPERTIES = ("ThingName", "AttributePayload", "ThingTypeName", "ThingGroups")
CERTIFICATE_PROPERTIES = (
    "CertificateSigningRequest",
    "CertificateId",
    "CertificatePem",
    "CACertificatePem",
    "Status",
)
POLICY_PROPERTIES = ("PolicyName", "PolicyDocument")
OVERRIDE_ACTIONS = ("DO_NOTHING", "REPLACE", "FAIL", "MERGE")
THING_OVERRIDABLE = ("AttributePayload", "ThingTypeName", "ThingGroups")
CERTIFICATE_STATUSES = ("ACTIVE", "INACTIVE")
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class TemplateError(ValueError):
    """The template or its parameters cannot be used (InvalidRequestException)."""


class _Removed:
    """`{"Ref": "AWS::NoValue"}`: the property it stands for is left out."""


REMOVED = _Removed()


@dataclass(frozen=True)
class Thing:
    logical_name: str
    thing_name: str
    attributes: dict[str, str] | None
    thing_type_name: str | None
    thing_groups: list[str] | None
    overrides: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Certificate:
    logical_name: str
    csr: str | None
    certificate_id: str | None
    status: str | None
    # a device certificate a registered CA signed, and that CA when several share a subject
    certificate_pem: str | None = None
    ca_certificate_pem: str | None = None


@dataclass(frozen=True)
class Policy:
    logical_name: str
    policy_name: str
    document: str | None  # None: an existing policy, by name


@dataclass(frozen=True)
class Plan:
    """What one parameter set asks for: at most one thing and one certificate, any policies."""

    thing: Thing | None
    certificate: Certificate | None
    policies: list[Policy]


def parse_template(body: str) -> dict[str, Any]:
    """The template body as a JSON object, its sections checked."""
    try:
        template = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise TemplateError(f"The template body is not valid JSON: {exc}") from exc
    if not isinstance(template, dict):
        raise TemplateError("The template body must be a JSON object")
    unknown = sorted(set(template) - set(SECTIONS) - {"DeviceConfiguration"})
    if unknown:
        raise TemplateError(
            f"Unknown template section(s) {', '.join(unknown)}: a template has"
            f" {', '.join(SECTIONS)}"
        )
    resources = template.get("Resources")
    if not isinstance(resources, dict) or not resources:
        raise TemplateError("The template has no Resources section (an object of resources)")
    for section in ("Parameters", "Mappings", "Conditions"):
        if not isinstance(template.get(section, {}), dict):
            raise TemplateError(f"The template's {section} section must be an object")
    for name, declaration in template.get("Parameters", {}).items():
        if not isinstance(declaration, dict) or declaration.get("Type") not in PARAMETER_TYPES:
            raise TemplateError(
                f"Parameter {name}: Type must be one of {', '.join(PARAMETER_TYPES)}"
            )
        if "Default" in declaration and not isinstance(declaration["Default"], str):
            raise TemplateError(f"Parameter {name}: Default must be a string")
    return template


def resolve(template: dict[str, Any], parameters: dict[str, str]) -> Plan:
    """The resources a parameter set provisions, every function evaluated."""
    return _Resolver(template, parameters).plan()


def policy_name_of(document: str) -> str:
    """The name of a policy given by its document alone: "a hash of the policy document"
    (the guide's example ARN ends in 40 upper-case hex digits: SHA-1)."""
    return hashlib.sha1(document.encode()).hexdigest().upper()


class _Resolver:
    def __init__(self, template: dict[str, Any], parameters: dict[str, str]) -> None:
        self.template = template
        self.values = self._parameter_values(template.get("Parameters", {}), parameters)
        self.mappings: dict[str, Any] = template.get("Mappings", {})
        self.conditions: dict[str, Any] = template.get("Conditions", {})
        self._condition_values: dict[str, bool] = {}
        self._evaluating: set[str] = set()

    @staticmethod
    def _parameter_values(
        declared: dict[str, dict[str, Any]], given: dict[str, str]
    ) -> dict[str, str | list[str] | None]:
        values: dict[str, str | list[str] | None] = {}
        for name, declaration in declared.items():
            value = given.get(name, declaration.get("Default"))
            if value is not None and not isinstance(value, str):
                raise TemplateError(f"Parameter {name}: the value must be a string")
            if value is not None and declaration["Type"] == "Number":
                try:
                    float(value)
                except ValueError:
                    raise TemplateError(
                        f"Parameter {name} is a Number; {value!r} is not a number"
                    ) from None
            if value is not None and declaration["Type"] == "CommaDelimitedList":
                values[name] = value.split(",")
            else:
                values[name] = value  # None: declared, given no value and no Default (PV-2)
        return values

    # ---- resources ---------------------------------------------------------------------------

    def plan(self) -> Plan:
        things: list[Thing] = []
        certificates: list[Certificate] = []
        policies: list[Policy] = []
        for logical_name, resource in self.template["Resources"].items():
            if not isinstance(resource, dict):
                raise TemplateError(f"Resource {logical_name} must be an object")
            kind = resource.get("Type")
            if kind not in RESOURCE_TYPES:
                raise TemplateError(
                    f"Resource {logical_name}: Type {kind!r} is not one of"
                    f" {', '.join(RESOURCE_TYPES)}"
                )
            if "Condition" in resource and not self.condition(resource["Condition"]):
                continue
            properties = self.value(resource.get("Properties", {}), f"{logical_name}.Properties")
            if not isinstance(properties, dict):
                raise TemplateError(f"Resource {logical_name}: Properties must be an object")
            if kind == "AWS::IoT::Thing":
                things.append(self._thing(logical_name, properties, resource))
            elif kind == "AWS::IoT::Certificate":
                certificates.append(self._certificate(logical_name, properties))
            else:
                policies.append(self._policy(logical_name, properties))
        if len(things) > 1 or len(certificates) > 1:
            raise TemplateError(
                "A template provisions one thing and one certificate (and any policies);"
                f" this one has {len(things)} things and {len(certificates)} certificates"
            )
        if policies and not certificates:
            raise TemplateError("A policy resource needs a certificate resource to attach to")
        return Plan(
            things[0] if things else None, certificates[0] if certificates else None, policies
        )

    @staticmethod
    def _known(logical_name: str, properties: dict[str, Any], allowed: tuple[str, ...]) -> None:
        unknown = sorted(set(properties) - set(allowed))
        if unknown:
            raise TemplateError(
                f"Resource {logical_name}: unsupported propert{'ies' if len(unknown) > 1 else 'y'}"
                f" {', '.join(unknown)} (allowed: {', '.join(allowed)})"
            )

    @staticmethod
    def _string(logical_name: str, name: str, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise TemplateError(f"Resource {logical_name}: {name} must be a non-empty string")
        return value

    def _thing(self, logical_name: str, properties: dict[str, Any], resource: dict) -> Thing:
        self._known(logical_name, properties, THING_PROPERTIES)
        if "ThingName" not in properties:
            raise TemplateError(f"Resource {logical_name}: ThingName is required")
        name = self._string(logical_name, "ThingName", properties["ThingName"])
        attributes = properties.get("AttributePayload")
        if attributes is not None:
            if not isinstance(attributes, dict) or not all(
                isinstance(v, str) for v in attributes.values()
            ):
                raise TemplateError(
                    f"Resource {logical_name}: AttributePayload must map names to strings"
                )
        type_name = properties.get("ThingTypeName")
        if type_name is not None:
            type_name = self._string(logical_name, "ThingTypeName", type_name)
        groups = properties.get("ThingGroups")
        if groups is not None:
            if not isinstance(groups, list) or not all(isinstance(g, str) and g for g in groups):
                raise TemplateError(
                    f"Resource {logical_name}: ThingGroups must be a list of group names"
                )
        overrides = resource.get("OverrideSettings", {})
        if not isinstance(overrides, dict) or any(
            key not in THING_OVERRIDABLE or action not in OVERRIDE_ACTIONS
            for key, action in overrides.items()
        ):
            raise TemplateError(
                f"Resource {logical_name}: OverrideSettings maps {', '.join(THING_OVERRIDABLE)}"
                f" to one of {', '.join(OVERRIDE_ACTIONS)}"
            )
        if overrides.get("ThingTypeName") == "MERGE":
            raise TemplateError(
                f"Resource {logical_name}: MERGE is valid only for AttributePayload and"
                " ThingGroups"
            )
        return Thing(logical_name, name, attributes, type_name, groups, dict(overrides))

    def _certificate(self, logical_name: str, properties: dict[str, Any]) -> Certificate:
        self._known(logical_name, properties, CERTIFICATE_PROPERTIES)
        ways = [
            k
            for k in ("CertificateSigningRequest", "CertificateId", "CertificatePem")
            if k in properties
        ]
        if len(ways) != 1:
            raise TemplateError(
                f"Resource {logical_name}: give exactly one of CertificateSigningRequest,"
                f" CertificateId or CertificatePem (given: {', '.join(ways) or 'none'})"
            )
        if "CACertificatePem" in properties and ways[0] != "CertificatePem":
            raise TemplateError(
                f"Resource {logical_name}: CACertificatePem names the CA of a CertificatePem"
            )
        status = properties.get("Status")
        if status is not None and status not in CERTIFICATE_STATUSES:
            raise TemplateError(
                f"Resource {logical_name}: Status must be one of {', '.join(CERTIFICATE_STATUSES)}"
            )
        csr = properties.get("CertificateSigningRequest")
        certificate_id = properties.get("CertificateId")
        if csr is not None:
            csr = self._string(logical_name, "CertificateSigningRequest", csr)
        if certificate_id is not None:
            certificate_id = self._string(logical_name, "CertificateId", certificate_id)
        certificate_pem = properties.get("CertificatePem")
        ca_certificate_pem = properties.get("CACertificatePem")
        if certificate_pem is not None:
            certificate_pem = self._string(logical_name, "CertificatePem", certificate_pem)
        if ca_certificate_pem is not None:
            ca_certificate_pem = self._string(logical_name, "CACertificatePem", ca_certificate_pem)
        return Certificate(
            logical_name, csr, certificate_id, status, certificate_pem, ca_certificate_pem
        )

    def _policy(self, logical_name: str, properties: dict[str, Any]) -> Policy:
        self._known(logical_name, properties, POLICY_PROPERTIES)
        if ("PolicyName" in properties) == ("PolicyDocument" in properties):
            raise TemplateError(
                f"Resource {logical_name}: give PolicyName or PolicyDocument, but not both"
            )
        if "PolicyName" in properties:
            name = self._string(logical_name, "PolicyName", properties["PolicyName"])
            return Policy(logical_name, name, None)
        document = properties["PolicyDocument"]
        if isinstance(document, dict):  # the guide's fleet example gives an object
            document = json.dumps(document)
        document = self._string(logical_name, "PolicyDocument", document)
        return Policy(logical_name, policy_name_of(document), document)

    # ---- values --------------------------------------------------------------------------

    def value(self, node: Any, where: str) -> Any:
        """`node` with every function evaluated (REMOVED where AWS::NoValue leaves it out)."""
        if isinstance(node, list):
            items = [self.value(item, where) for item in node]
            return [item for item in items if item is not REMOVED]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, argument),) = node.items()
            if key == "Ref":
                return self.ref(argument, where)
            if key in VALUE_FUNCTIONS:
                return getattr(self, "_" + key[4:].lower())(argument, where)
            if key.startswith("Fn::") or key == "Condition":
                raise TemplateError(
                    f"{where}: the function {key} is not supported in provisioning templates"
                    f" (supported: Ref, {', '.join(VALUE_FUNCTIONS)})"
                )
        resolved = {key: self.value(item, f"{where}.{key}") for key, item in node.items()}
        return {key: item for key, item in resolved.items() if item is not REMOVED}

    def ref(self, name: Any, where: str) -> Any:
        if name == NO_VALUE:
            return REMOVED
        if not isinstance(name, str) or name not in self.values:
            raise TemplateError(
                f"{where}: Ref {name!r} names no parameter of the template's Parameters section"
            )
        value = self.values[name]
        if value is None:
            raise TemplateError(
                f"{where}: parameter {name} has no value (none given and no Default)"
            )
        return value

    def _strings(self, node: Any, where: str, what: str) -> list[str]:
        items = self.value(node, where)
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise TemplateError(f"{where}: {what} must be a list of strings")
        return items

    def _join(self, argument: Any, where: str) -> str:
        if not isinstance(argument, list) or len(argument) != 2:
            raise TemplateError(f'{where}: Fn::Join takes ["delimiter", [values]]')
        delimiter = self.value(argument[0], where)
        if not isinstance(delimiter, str):
            raise TemplateError(f"{where}: the Fn::Join delimiter must be a string")
        return delimiter.join(self._strings(argument[1], where, "the Fn::Join values"))

    def _select(self, argument: Any, where: str) -> Any:
        if not isinstance(argument, list) or len(argument) != 2:
            raise TemplateError(f"{where}: Fn::Select takes [index, [values]]")
        index = self.value(argument[0], where)
        items = self.value(argument[1], where)
        try:
            position = int(index)
        except (TypeError, ValueError):
            raise TemplateError(
                f"{where}: the Fn::Select index {index!r} is not an integer"
            ) from None
        if not isinstance(items, list):
            raise TemplateError(f"{where}: Fn::Select needs a list to select from")
        # "Fn::Select does not check for null values or if the index is out of bounds of the
        # array. Both conditions result in a provisioning error" (the guide)
        if not 0 <= position < len(items) or items[position] is None:
            raise TemplateError(
                f"{where}: Fn::Select index {position} is outside the list of {len(items)}"
                " values (or selects a null)"
            )
        return items[position]

    def _split(self, argument: Any, where: str) -> list[str]:
        if not isinstance(argument, list) or len(argument) != 2:
            raise TemplateError(f'{where}: Fn::Split takes ["delimiter", "string"]')
        delimiter, text = self.value(argument[0], where), self.value(argument[1], where)
        if not isinstance(delimiter, str) or not delimiter or not isinstance(text, str):
            raise TemplateError(f"{where}: Fn::Split takes a non-empty delimiter and a string")
        return text.split(delimiter)

    def _findinmap(self, argument: Any, where: str) -> Any:
        if not isinstance(argument, list) or len(argument) != 3:
            raise TemplateError(
                f"{where}: Fn::FindInMap takes [MapName, TopLevelKey, SecondLevelKey]"
            )
        keys = [self.value(item, where) for item in argument]
        if not all(isinstance(k, str) for k in keys):
            raise TemplateError(f"{where}: the Fn::FindInMap keys must be strings")
        node: Any = self.mappings
        for depth, key in enumerate(keys):
            if not isinstance(node, dict) or key not in node:
                level = ("map", "top-level key", "second-level key")[depth]
                raise TemplateError(f"{where}: Fn::FindInMap: no {level} {key!r} in Mappings")
            node = node[key]
        return node

    def _sub(self, argument: Any, where: str) -> str:
        variables: dict[str, Any] = {}
        if isinstance(argument, list):
            if len(argument) != 2 or not isinstance(argument[1], dict):
                raise TemplateError(
                    f'{where}: Fn::Sub takes "string" or ["string", {{variables}}]'
                )
            argument, given = argument
            variables = {name: self.value(item, where) for name, item in given.items()}
        if not isinstance(argument, str):
            raise TemplateError(f"{where}: Fn::Sub needs a string")

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):  # ${!Literal} is the literal ${Literal}
                return "${" + name[1:] + "}"
            value = variables[name] if name in variables else self.ref(name, where)
            if not isinstance(value, str):
                raise TemplateError(f"{where}: Fn::Sub variable {name} is not a string")
            return value

        return _SUB_VARIABLE.sub(substitute, argument)

    def _if(self, argument: Any, where: str) -> Any:
        if not isinstance(argument, list) or len(argument) != 3:
            raise TemplateError(
                f"{where}: Fn::If takes [condition name, value if true, value if false]"
            )
        chosen = argument[1] if self.condition(argument[0]) else argument[2]
        return self.value(chosen, where)

    # ---- conditions ----------------------------------------------------------------------

    def condition(self, name: Any) -> bool:
        if not isinstance(name, str) or name not in self.conditions:
            raise TemplateError(f"Condition {name!r} is not declared in the Conditions section")
        if name not in self._condition_values:
            if name in self._evaluating:
                raise TemplateError(f"Condition {name} refers to itself")
            self._evaluating.add(name)
            self._condition_values[name] = self._truth(self.conditions[name], f"Conditions.{name}")
            self._evaluating.discard(name)
        return self._condition_values[name]

    def _truth(self, node: Any, where: str) -> bool:
        if not isinstance(node, dict) or len(node) != 1:
            raise TemplateError(
                f"{where}: a condition is one of {', '.join(CONDITION_FUNCTIONS)} or Condition"
            )
        ((key, argument),) = node.items()
        if key == "Condition":
            return self.condition(argument)
        if key == "Fn::Equals":
            if not isinstance(argument, list) or len(argument) != 2:
                raise TemplateError(f"{where}: Fn::Equals takes [value, value]")
            return self.value(argument[0], where) == self.value(argument[1], where)
        if key == "Fn::Not":
            if not isinstance(argument, list) or len(argument) != 1:
                raise TemplateError(f"{where}: Fn::Not takes [condition]")
            return not self._truth(argument[0], where)
        if key in ("Fn::And", "Fn::Or"):
            if not isinstance(argument, list) or not 2 <= len(argument) <= 10:
                raise TemplateError(f"{where}: {key} takes 2 to 10 conditions")
            truths = [self._truth(item, where) for item in argument]
            return all(truths) if key == "Fn::And" else any(truths)
        raise TemplateError(
            f"{where}: {key} is not a condition function ({', '.join(CONDITION_FUNCTIONS)})"
        )
