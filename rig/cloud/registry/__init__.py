"""Thing registry: things, thing types, thing groups (hierarchy) and thing principals.

Return values have the shapes of the AWS IoT API responses (camelCase keys), so the CLI prints
them unchanged. One module per kind of resource; `Registry` composes them over one store.
"""

from __future__ import annotations

from rig.cloud.core.store import Store
from rig.cloud.registry.names import THING_NAME, check_name
from rig.cloud.registry.principals import PrincipalOperations
from rig.cloud.registry.store import REGISTRY_MIGRATIONS
from rig.cloud.registry.thing_groups import ThingGroupOperations
from rig.cloud.registry.thing_types import ThingTypeOperations
from rig.cloud.registry.things import ThingOperations

__all__ = ["THING_NAME", "Registry", "check_name"]


class Registry(ThingOperations, ThingTypeOperations, ThingGroupOperations, PrincipalOperations):
    """Things, types, groups and the thing↔principal attachments."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.membership_observers = []
        self.thing_deletion_observers = []
        self.thing_change_observers = []
        store.migrate("registry", REGISTRY_MIGRATIONS)
