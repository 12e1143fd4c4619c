"""The policies' control-plane API, mixed into the `Cloud` facade (rig/cloud/api.py)."""

from __future__ import annotations

from typing import Any

from rig.cloud.core.control_plane import ControlPlane
from rig.cloud.policies.store import Policies, document_text


class PoliciesApi(ControlPlane):
    policies: Policies

    def create_policy(
        self, policy_name: str, policy_document: str | dict[str, Any]
    ) -> dict[str, Any]:
        return self.policies.create_policy(policy_name, document_text(policy_document))

    def create_policy_version(
        self, policy_name: str, policy_document: str | dict[str, Any], set_as_default: bool = False
    ) -> dict[str, Any]:
        return self._mutating(
            self.policies.create_policy_version(
                policy_name, document_text(policy_document), set_as_default
            )
        )

    def get_policy(self, policy_name: str) -> dict[str, Any]:
        return self.policies.get_policy(policy_name)

    def list_policies(self) -> dict[str, Any]:
        return self.policies.list_policies()

    def delete_policy(self, policy_name: str) -> dict[str, Any]:
        return self.policies.delete_policy(policy_name)

    def attach_policy(self, policy_name: str, target: str) -> dict[str, Any]:
        return self._mutating(self.policies.attach_policy(policy_name, target))

    def detach_policy(self, policy_name: str, target: str) -> dict[str, Any]:
        return self._mutating(self.policies.detach_policy(policy_name, target))

    def list_attached_policies(self, target: str) -> dict[str, Any]:
        return self.policies.list_attached_policies(target)

    def attach_principal_policy(self, policy_name: str, principal: str) -> dict[str, Any]:
        """Deprecated in AWS for attach_policy, which it is; the seeds' walkthroughs use it."""
        return self.attach_policy(policy_name, principal)
