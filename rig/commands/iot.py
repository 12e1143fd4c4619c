"""`buttonrig iot …`: the aws-cli `iot` commands of the seeds, against the reference cloud.

Shapes follow the AWS IoT API. Ours, not aws-cli's (documented in docs/contracts.md):
`create-keys-and-certificate` never prints the private key (only `--private-key-outfile` gets it),
makes an EC P-256 key unless `--key-type RSA`, and takes an optional `--common-name` (the
certificate's CN; default: a unique `iotcert-…`; the client id is the device's own either way) and
DER outfiles for devices.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rig.commands.awscli import Operation, Param, add_operations
from rig.commands.iot_ca import CA_OPERATIONS
from rig.commands.iot_indexing import INDEXING_OPERATIONS, LOGGING_OPERATIONS
from rig.commands.iot_jobs import JOBS_OPERATIONS
from rig.commands.iot_provisioning import PROVISIONING_OPERATIONS
from rig.commands.iot_rules import RULES_OPERATIONS
from rig.commands.outfiles import write_outfile
from rig.commands.shapes import BOOLEAN, STRING, list_of, map_of, structure

# the API's structure members (botocore's shapes, reduced): checked before the call, as aws-cli
ATTRIBUTE_PAYLOAD = structure(attributes=map_of(STRING), merge=BOOLEAN)
THING_TYPE_PROPERTIES = structure(
    thingTypeDescription=STRING, searchableAttributes=list_of(STRING)
)
THING_GROUP_PROPERTIES = structure(
    thingGroupDescription=STRING, attributePayload=ATTRIBUTE_PAYLOAD
)
EVENT_CONFIGURATIONS = map_of(structure(Enabled=BOOLEAN))  # event type -> {"Enabled": bool}

THING = Param("--thing-name", required=True)
CERT_ID = Param("--certificate-id", required=True)
POLICY = Param("--policy-name", required=True)

OPERATIONS = [
    Operation(
        "create-thing",
        "CreateThing",
        (
            THING,
            Param("--thing-type-name"),
            Param("--attribute-payload", "structure", shape=ATTRIBUTE_PAYLOAD),
        ),
        lambda c, kw: c.create_thing(**kw),
    ),
    Operation("describe-thing", "DescribeThing", (THING,), lambda c, kw: c.describe_thing(**kw)),
    Operation(
        "list-things",
        "ListThings",
        (
            Param("--attribute-name"),
            Param("--attribute-value"),
            Param("--thing-type-name"),
            Param("--max-results", "integer"),
            Param("--next-token"),
        ),
        lambda c, kw: c.list_things(**kw),
    ),
    Operation(
        "update-thing",
        "UpdateThing",
        (
            THING,
            Param("--thing-type-name"),
            Param("--attribute-payload", "structure", shape=ATTRIBUTE_PAYLOAD),
            Param("--expected-version", "integer"),
            Param("--remove-thing-type", "boolean"),
        ),
        lambda c, kw: c.update_thing(**kw),
    ),
    Operation(
        "delete-thing",
        "DeleteThing",
        (THING, Param("--expected-version", "integer")),
        lambda c, kw: c.delete_thing(**kw),
    ),
    Operation(
        "create-thing-type",
        "CreateThingType",
        (
            Param("--thing-type-name", required=True),
            Param("--thing-type-properties", "structure", shape=THING_TYPE_PROPERTIES),
        ),
        lambda c, kw: c.create_thing_type(**kw),
    ),
    Operation(
        "describe-thing-type",
        "DescribeThingType",
        (Param("--thing-type-name", required=True),),
        lambda c, kw: c.describe_thing_type(**kw),
    ),
    Operation("list-thing-types", "ListThingTypes", (), lambda c, _kw: c.list_thing_types()),
    Operation(
        "deprecate-thing-type",
        "DeprecateThingType",
        (Param("--thing-type-name", required=True), Param("--undo-deprecate", "boolean")),
        lambda c, kw: c.deprecate_thing_type(
            kw["thing_type_name"], bool(kw.get("undo_deprecate"))
        ),
    ),
    Operation(
        "delete-thing-type",
        "DeleteThingType",
        (Param("--thing-type-name", required=True),),
        lambda c, kw: c.delete_thing_type(**kw),
        help="only five minutes after deprecate-thing-type, and with no things of the type",
    ),
    Operation(
        "list-thing-groups",
        "ListThingGroups",
        (
            Param("--parent-group"),
            Param("--name-prefix-filter"),
            Param("--recursive", "boolean"),
        ),
        lambda c, kw: c.list_thing_groups(**kw),
    ),
    Operation(
        "update-thing-group",
        "UpdateThingGroup",
        (
            Param("--thing-group-name", required=True),
            Param(
                "--thing-group-properties",
                "structure",
                required=True,
                shape=THING_GROUP_PROPERTIES,
            ),
            Param("--expected-version", "integer"),
        ),
        lambda c, kw: c.update_thing_group(**kw),
    ),
    Operation(
        "delete-thing-group",
        "DeleteThingGroup",
        (Param("--thing-group-name", required=True), Param("--expected-version", "integer")),
        lambda c, kw: c.delete_thing_group(**kw),
    ),
    Operation(
        "list-thing-groups-for-thing",
        "ListThingGroupsForThing",
        (THING,),
        lambda c, kw: c.list_thing_groups_for_thing(**kw),
    ),
    Operation(
        "list-things-in-thing-group",
        "ListThingsInThingGroup",
        (Param("--thing-group-name", required=True), Param("--recursive", "boolean")),
        lambda c, kw: c.list_things_in_thing_group(
            kw["thing_group_name"], bool(kw.get("recursive"))
        ),
    ),
    Operation(
        "update-event-configurations",
        "UpdateEventConfigurations",
        (Param("--event-configurations", "structure", required=True, shape=EVENT_CONFIGURATIONS),),
        lambda c, kw: c.update_event_configurations(**kw),
    ),
    Operation(
        "describe-event-configurations",
        "DescribeEventConfigurations",
        (),
        lambda c, _kw: c.describe_event_configurations(),
    ),
    Operation(
        "describe-endpoint",
        "DescribeEndpoint",
        (Param("--endpoint-type"),),
        lambda c, kw: c.describe_endpoint(**kw),
        help="ours: also gives the port (the running cloud's)",
    ),
    Operation(
        "create-thing-group",
        "CreateThingGroup",
        (
            Param("--thing-group-name", required=True),
            Param("--parent-group-name"),
            Param("--thing-group-properties", "structure", shape=THING_GROUP_PROPERTIES),
        ),
        lambda c, kw: c.create_thing_group(**kw),
    ),
    Operation(
        "describe-thing-group",
        "DescribeThingGroup",
        (Param("--thing-group-name", required=True),),
        lambda c, kw: c.describe_thing_group(**kw),
    ),
    Operation(
        "add-thing-to-thing-group",
        "AddThingToThingGroup",
        (
            Param("--thing-group-name"),
            Param("--thing-group-arn"),
            Param("--thing-name"),
            Param("--thing-arn"),
        ),
        lambda c, kw: c.add_thing_to_thing_group(**kw),
    ),
    Operation(
        "remove-thing-from-thing-group",
        "RemoveThingFromThingGroup",
        (Param("--thing-group-name", required=True), THING),
        lambda c, kw: c.remove_thing_from_thing_group(**kw),
    ),
    Operation(
        "create-keys-and-certificate",
        "CreateKeysAndCertificate",
        (
            Param("--set-as-active", "boolean"),
            Param("--certificate-pem-outfile"),
            Param("--public-key-outfile"),
            Param("--private-key-outfile"),
            Param("--certificate-der-outfile", help="ours: the certificate as DER"),
            Param("--private-key-der-outfile", help="ours: the private key as DER"),
            Param(
                "--common-name",
                help="ours, optional: the certificate's CN (default iotcert-<hex>)",
            ),
            Param("--key-type", choices=("EC", "RSA"), help="ours: EC (P-256, default) or RSA"),
        ),
        lambda c, kw: c.issue_keys_and_certificate(
            bool(kw.get("set_as_active")), kw.get("common_name"), kw.get("key_type", "EC")
        ),
    ),
    Operation(
        "create-certificate-from-csr",
        "CreateCertificateFromCsr",
        (
            Param("--certificate-signing-request", "text", required=True),
            Param("--set-as-active", "boolean"),
            Param("--certificate-pem-outfile"),
        ),
        lambda c, kw: c.create_certificate_from_csr(
            kw["certificate_signing_request"], bool(kw.get("set_as_active"))
        ),
    ),
    Operation(
        "update-certificate",
        "UpdateCertificate",
        (CERT_ID, Param("--new-status", required=True)),
        lambda c, kw: c.update_certificate(**kw),
    ),
    Operation(
        "describe-certificate",
        "DescribeCertificate",
        (CERT_ID,),
        lambda c, kw: c.describe_certificate(**kw),
    ),
    Operation("list-certificates", "ListCertificates", (), lambda c, _kw: c.list_certificates()),
    Operation(
        "delete-certificate",
        "DeleteCertificate",
        (CERT_ID,),
        lambda c, kw: c.delete_certificate(**kw),
    ),
    Operation(
        "create-policy",
        "CreatePolicy",
        (POLICY, Param("--policy-document", "text", required=True)),
        lambda c, kw: c.create_policy(**kw),
    ),
    Operation(
        "create-policy-version",
        "CreatePolicyVersion",
        (
            POLICY,
            Param("--policy-document", "text", required=True),
            Param("--set-as-default", "boolean"),
        ),
        lambda c, kw: c.create_policy_version(**kw),
    ),
    Operation("get-policy", "GetPolicy", (POLICY,), lambda c, kw: c.get_policy(**kw)),
    Operation("list-policies", "ListPolicies", (), lambda c, _kw: c.list_policies()),
    Operation("delete-policy", "DeletePolicy", (POLICY,), lambda c, kw: c.delete_policy(**kw)),
    Operation(
        "attach-policy",
        "AttachPolicy",
        (POLICY, Param("--target", required=True)),
        lambda c, kw: c.attach_policy(**kw),
    ),
    Operation(
        "detach-policy",
        "DetachPolicy",
        (POLICY, Param("--target", required=True)),
        lambda c, kw: c.detach_policy(**kw),
    ),
    Operation(
        "attach-principal-policy",
        "AttachPrincipalPolicy",
        (POLICY, Param("--principal", required=True)),
        lambda c, kw: c.attach_policy(kw["policy_name"], kw["principal"]),
        help="deprecated in AWS (use attach-policy); kept for the seeds' walkthroughs",
    ),
    Operation(
        "list-attached-policies",
        "ListAttachedPolicies",
        (Param("--target", required=True),),
        lambda c, kw: c.list_attached_policies(**kw),
    ),
    Operation(
        "attach-thing-principal",
        "AttachThingPrincipal",
        (THING, Param("--principal", required=True)),
        lambda c, kw: c.attach_thing_principal(**kw),
    ),
    Operation(
        "detach-thing-principal",
        "DetachThingPrincipal",
        (THING, Param("--principal", required=True)),
        lambda c, kw: c.detach_thing_principal(**kw),
    ),
    Operation(
        "list-thing-principals",
        "ListThingPrincipals",
        (THING,),
        lambda c, kw: c.list_thing_principals(**kw),
    ),
    *JOBS_OPERATIONS,
    *RULES_OPERATIONS,
    *CA_OPERATIONS,
    *INDEXING_OPERATIONS,
    *LOGGING_OPERATIONS,
    *PROVISIONING_OPERATIONS,
]


def _finish(
    operation: Operation, args: argparse.Namespace, values: dict[str, Any], response: Any
) -> Any:
    """Outfiles; and the private key goes only to its outfile, never to stdout."""
    del args
    if operation.command == "create-certificate-from-csr":
        if values.get("certificate_pem_outfile"):
            write_outfile(values["certificate_pem_outfile"], response["certificatePem"].encode())
        return response
    if operation.command != "create-keys-and-certificate":
        return response
    body, issued = response
    outfiles = (  # the private key first: it is the one thing that cannot be made again
        ("private_key_outfile", (issued.private_key_pem or "").encode(), True),
        ("private_key_der_outfile", issued.private_key_der or b"", True),
        ("certificate_pem_outfile", issued.certificate_pem.encode(), False),
        ("public_key_outfile", issued.public_key_pem.encode(), False),
        ("certificate_der_outfile", issued.certificate_der, False),
    )
    for keyword, data, private in outfiles:
        if values.get(keyword):
            write_outfile(values[keyword], data, private)
    if not (values.get("private_key_outfile") or values.get("private_key_der_outfile")):
        print(
            "buttonrig: warning: no --private-key-outfile: the private key was not saved and"
            " cannot be retrieved again",
            file=sys.stderr,
        )
    body["keyPair"] = {"PublicKey": body["keyPair"]["PublicKey"]}  # key only to outfiles
    return body


def register(subparsers: Any) -> None:
    add_operations(
        subparsers,
        "iot",
        "AWS IoT control plane (aws iot …) on the reference cloud",
        OPERATIONS,
        _finish,
    )
