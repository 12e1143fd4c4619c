"""`buttonrig iot …-topic-rule(s)`: the rules engine's commands (aws iot create-topic-rule …),
with aws-cli's option names; `--topic-rule-payload` takes JSON or `file://rule.json`."""

from __future__ import annotations

from rig.commands.awscli import Operation, Param

RULE = Param("--rule-name", required=True)
PAYLOAD = Param("--topic-rule-payload", "structure", required=True)

RULES_OPERATIONS = [
    Operation(
        "create-topic-rule",
        "CreateTopicRule",
        (RULE, PAYLOAD, Param("--tags")),
        lambda c, kw: c.create_topic_rule(kw["rule_name"], kw["topic_rule_payload"]),
    ),
    Operation(
        "replace-topic-rule",
        "ReplaceTopicRule",
        (RULE, PAYLOAD),
        lambda c, kw: c.replace_topic_rule(kw["rule_name"], kw["topic_rule_payload"]),
    ),
    Operation("get-topic-rule", "GetTopicRule", (RULE,), lambda c, kw: c.get_topic_rule(**kw)),
    Operation(
        "list-topic-rules",
        "ListTopicRules",
        (
            Param("--topic"),
            Param("--rule-disabled", "boolean"),
            Param("--max-results", "integer"),
            Param("--next-token"),
        ),
        lambda c, kw: c.list_topic_rules(kw.get("topic"), kw.get("rule_disabled")),
    ),
    Operation(
        "enable-topic-rule", "EnableTopicRule", (RULE,), lambda c, kw: c.enable_topic_rule(**kw)
    ),
    Operation(
        "disable-topic-rule",
        "DisableTopicRule",
        (RULE,),
        lambda c, kw: c.disable_topic_rule(**kw),
    ),
    Operation(
        "delete-topic-rule", "DeleteTopicRule", (RULE,), lambda c, kw: c.delete_topic_rule(**kw)
    ),
]
