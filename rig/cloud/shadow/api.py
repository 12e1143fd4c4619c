"""The shadow's REST-shaped API (aws iot-data get/update/delete-thing-shadow: bytes in, bytes
out), mixed into the `Cloud` facade (rig/cloud/api.py). Replies are the same bytes an MQTT client
gets (rig.cloud.core.jsoncodec), and MQTT subscribers see REST changes too (guide silent; ours):
the store writes them to the outbox in the shadow's own transaction."""

from __future__ import annotations

from rig.cloud.core import jsoncodec
from rig.cloud.core.control_plane import ControlPlane
from rig.cloud.registry.names import check_name
from rig.cloud.shadow.store import ShadowStore, check_shadow_name, rest_error


class ShadowApi(ControlPlane):
    shadow_store: ShadowStore

    def _shadow(self, operation: str, thing_name: str, payload: bytes, shadow_name: str) -> bytes:
        check_name("thingName", thing_name)
        if shadow_name:  # "" is the classic shadow
            check_shadow_name(shadow_name)
        outcome = self.shadow_store.handle(
            operation, thing_name, payload, shadow_name, to_outbox=operation != "get"
        )
        if outcome.error is not None:
            raise rest_error(outcome.error)
        assert outcome.accepted is not None
        return jsoncodec.dumps(outcome.accepted)

    def get_thing_shadow(self, thing_name: str, shadow_name: str = "") -> bytes:
        return self._shadow("get", thing_name, b"", shadow_name)

    def update_thing_shadow(self, thing_name: str, payload: bytes, shadow_name: str = "") -> bytes:
        return self._shadow("update", thing_name, payload, shadow_name)

    def delete_thing_shadow(self, thing_name: str, shadow_name: str = "") -> bytes:
        return self._shadow("delete", thing_name, b"", shadow_name)
