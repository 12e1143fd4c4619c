"""The topic rules' control-plane API, mixed into the `Cloud` facade (rig/cloud/api.py)."""

from __future__ import annotations

from typing import Any

from rig.cloud.rules.store import TopicRules


class RulesApi:
    topic_rules: TopicRules

    def create_topic_rule(self, rule_name: str, topic_rule_payload: Any) -> dict[str, Any]:
        return self.topic_rules.create_topic_rule(rule_name, topic_rule_payload)

    def replace_topic_rule(self, rule_name: str, topic_rule_payload: Any) -> dict[str, Any]:
        return self.topic_rules.replace_topic_rule(rule_name, topic_rule_payload)

    def get_topic_rule(self, rule_name: str) -> dict[str, Any]:
        return self.topic_rules.get_topic_rule(rule_name)

    def list_topic_rules(
        self, topic: str | None = None, rule_disabled: bool | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return self.topic_rules.list_topic_rules(topic, rule_disabled, **kwargs)

    def enable_topic_rule(self, rule_name: str) -> dict[str, Any]:
        return self.topic_rules.enable_topic_rule(rule_name)

    def disable_topic_rule(self, rule_name: str) -> dict[str, Any]:
        return self.topic_rules.disable_topic_rule(rule_name)

    def delete_topic_rule(self, rule_name: str) -> dict[str, Any]:
        return self.topic_rules.delete_topic_rule(rule_name)
