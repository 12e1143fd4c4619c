"""`buttonrig iot …` for fleet indexing, dynamic thing groups and fine-grained (v2) logging:
aws-cli's option names and botocore's request and response shapes (service model
iot/2015-05-28). Part of `buttonrig iot` (rig/commands/iot.py adds them to its list).

Not taken: `--tags` of create-dynamic-thing-group and `--thing-group-indexing-configuration`
other than `thingGroupIndexingMode=OFF` (the reference cloud has no AWS_ThingGroups index).
"""

from __future__ import annotations

from rig.commands.awscli import Operation, Param
from rig.commands.shapes import BOOLEAN, STRING, map_of, structure

THING_INDEXING_CONFIGURATION = structure(
    thingIndexingMode=STRING, thingConnectivityIndexingMode=STRING
)
THING_GROUP_INDEXING_CONFIGURATION = structure(thingGroupIndexingMode=STRING)
THING_GROUP_PROPERTIES = structure(
    thingGroupDescription=STRING,
    attributePayload=structure(attributes=map_of(STRING), merge=BOOLEAN),
)
GROUP = Param("--thing-group-name", required=True)
INDEX_NAME = Param("--index-name")
QUERY_VERSION = Param("--query-version")

INDEXING_OPERATIONS = [
    Operation(
        "update-indexing-configuration",
        "UpdateIndexingConfiguration",
        (
            Param(
                "--thing-indexing-configuration",
                "structure",
                shape=THING_INDEXING_CONFIGURATION,
                help="thingIndexingMode=REGISTRY|REGISTRY_AND_SHADOW|OFF"
                "[,thingConnectivityIndexingMode=STATUS|OFF]",
            ),
            Param(
                "--thing-group-indexing-configuration",
                "structure",
                shape=THING_GROUP_INDEXING_CONFIGURATION,
            ),
        ),
        lambda c, kw: c.update_indexing_configuration(**kw),
    ),
    Operation(
        "get-indexing-configuration",
        "GetIndexingConfiguration",
        (),
        lambda c, _kw: c.get_indexing_configuration(),
    ),
    Operation(
        "describe-index",
        "DescribeIndex",
        (Param("--index-name", required=True),),
        lambda c, kw: c.describe_index(**kw),
    ),
    Operation(
        "list-indices",
        "ListIndices",
        (Param("--max-results", "integer"), Param("--next-token")),
        lambda c, kw: c.list_indices(**kw),
    ),
    Operation(
        "search-index",
        "SearchIndex",
        (
            INDEX_NAME,
            Param("--query-string", required=True),
            Param("--next-token"),
            Param("--max-results", "integer"),
            QUERY_VERSION,
        ),
        lambda c, kw: c.search_index(**kw),
    ),
    Operation(
        "create-dynamic-thing-group",
        "CreateDynamicThingGroup",
        (
            GROUP,
            Param("--thing-group-properties", "structure", shape=THING_GROUP_PROPERTIES),
            INDEX_NAME,
            Param("--query-string", required=True),
            QUERY_VERSION,
        ),
        lambda c, kw: c.create_dynamic_thing_group(**kw),
    ),
    Operation(
        "update-dynamic-thing-group",
        "UpdateDynamicThingGroup",
        (
            GROUP,
            Param(
                "--thing-group-properties",
                "structure",
                required=True,
                shape=THING_GROUP_PROPERTIES,
            ),
            Param("--expected-version", "integer"),
            INDEX_NAME,
            Param("--query-string"),
            QUERY_VERSION,
        ),
        lambda c, kw: c.update_dynamic_thing_group(**kw),
    ),
    Operation(
        "delete-dynamic-thing-group",
        "DeleteDynamicThingGroup",
        (GROUP, Param("--expected-version", "integer")),
        lambda c, kw: c.delete_dynamic_thing_group(**kw),
    ),
]

LOG_LEVELS = ("DEBUG", "INFO", "ERROR", "WARN", "DISABLED")
TARGET_TYPES = ("DEFAULT", "THING_GROUP", "CLIENT_ID", "SOURCE_IP", "PRINCIPAL_ID")

LOGGING_OPERATIONS = [
    Operation(
        "set-v2-logging-options",
        "SetV2LoggingOptions",
        (
            Param("--role-arn"),
            Param("--default-log-level", choices=LOG_LEVELS),
            Param("--disable-all-logs", "boolean"),
        ),
        lambda c, kw: c.set_v2_logging_options(**kw),
    ),
    Operation(
        "get-v2-logging-options",
        "GetV2LoggingOptions",
        (),
        lambda c, _kw: c.get_v2_logging_options(),
    ),
    Operation(
        "set-v2-logging-level",
        "SetV2LoggingLevel",
        (
            Param(
                "--log-target",
                "structure",
                required=True,
                shape=structure(targetType=STRING, targetName=STRING),
                help='{"targetType": "THING_GROUP", "targetName": "<group>"}',
            ),
            Param("--log-level", required=True, choices=LOG_LEVELS),
        ),
        lambda c, kw: c.set_v2_logging_level(**kw),
    ),
    Operation(
        "list-v2-logging-levels",
        "ListV2LoggingLevels",
        (
            Param("--target-type", choices=TARGET_TYPES),
            Param("--max-results", "integer"),
            Param("--next-token"),
        ),
        lambda c, kw: c.list_v2_logging_levels(**kw),
    ),
    Operation(
        "delete-v2-logging-level",
        "DeleteV2LoggingLevel",
        (
            Param("--target-type", required=True, choices=TARGET_TYPES),
            Param("--target-name", required=True),
        ),
        lambda c, kw: c.delete_v2_logging_level(**kw),
    ),
]
