"""The registry's control-plane API (AWS IoT API operation names, snake_case; camelCase
responses), mixed into the `Cloud` facade (rig/cloud/api.py)."""

from __future__ import annotations

from typing import Any

from rig.cloud.core.control_plane import ControlPlane
from rig.cloud.registry import Registry


class RegistryApi(ControlPlane):
    registry: Registry

    def create_thing(self, thing_name: str, **kwargs: Any) -> dict[str, Any]:
        return self.registry.create_thing(thing_name, **kwargs)

    def describe_thing(self, thing_name: str) -> dict[str, Any]:
        return self.registry.describe_thing(thing_name)

    def list_things(self, **kwargs: Any) -> dict[str, Any]:
        return self.registry.list_things(**kwargs)

    def update_thing(self, thing_name: str, **kwargs: Any) -> dict[str, Any]:
        return self._mutating(self.registry.update_thing(thing_name, **kwargs))

    def delete_thing(self, thing_name: str, expected_version: int | None = None) -> dict[str, Any]:
        return self._mutating(self.registry.delete_thing(thing_name, expected_version))

    def create_thing_type(self, thing_type_name: str, **kwargs: Any) -> dict[str, Any]:
        return self.registry.create_thing_type(thing_type_name, **kwargs)

    def describe_thing_type(self, thing_type_name: str) -> dict[str, Any]:
        return self.registry.describe_thing_type(thing_type_name)

    def create_thing_group(self, thing_group_name: str, **kwargs: Any) -> dict[str, Any]:
        return self.registry.create_thing_group(thing_group_name, **kwargs)

    def describe_thing_group(self, thing_group_name: str) -> dict[str, Any]:
        return self.registry.describe_thing_group(thing_group_name)

    def list_thing_types(self) -> dict[str, Any]:
        return self.registry.list_thing_types()

    def deprecate_thing_type(
        self, thing_type_name: str, undo_deprecate: bool = False
    ) -> dict[str, Any]:
        return self.registry.deprecate_thing_type(thing_type_name, undo_deprecate)

    def delete_thing_type(self, thing_type_name: str) -> dict[str, Any]:
        return self.registry.delete_thing_type(thing_type_name)

    def list_thing_groups(self, **kwargs: Any) -> dict[str, Any]:
        return self.registry.list_thing_groups(**kwargs)

    def update_thing_group(self, thing_group_name: str, **kwargs: Any) -> dict[str, Any]:
        return self.registry.update_thing_group(thing_group_name, **kwargs)

    def delete_thing_group(
        self, thing_group_name: str, expected_version: int | None = None
    ) -> dict[str, Any]:
        return self._mutating(self.registry.delete_thing_group(thing_group_name, expected_version))

    def list_thing_groups_for_thing(self, thing_name: str) -> dict[str, Any]:
        return self.registry.list_thing_groups_for_thing(thing_name)

    def list_things_in_thing_group(
        self, thing_group_name: str, recursive: bool = False
    ) -> dict[str, Any]:
        return self.registry.list_things_in_thing_group(thing_group_name, recursive)

    def add_thing_to_thing_group(self, **kwargs: Any) -> dict[str, Any]:
        return self._mutating(self.registry.add_thing_to_thing_group(**kwargs))

    def remove_thing_from_thing_group(
        self, thing_group_name: str, thing_name: str
    ) -> dict[str, Any]:
        return self._mutating(
            self.registry.remove_thing_from_thing_group(thing_group_name, thing_name)
        )

    def attach_thing_principal(self, thing_name: str, principal: str) -> dict[str, Any]:
        return self._mutating(self.registry.attach_thing_principal(thing_name, principal))

    def detach_thing_principal(self, thing_name: str, principal: str) -> dict[str, Any]:
        return self._mutating(self.registry.detach_thing_principal(thing_name, principal))

    def list_thing_principals(self, thing_name: str) -> dict[str, Any]:
        return self.registry.list_thing_principals(thing_name)
