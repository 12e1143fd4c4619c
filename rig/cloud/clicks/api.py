"""The clicks' read API for tests, the CLI and benchmarks, mixed into the `Cloud` facade."""

from __future__ import annotations

from rig.cloud.clicks.engine import Click
from rig.cloud.clicks.store import ClickLog
from rig.cloud.core.control_plane import ControlPlane


class ClicksApi(ControlPlane):
    click_log: ClickLog

    def clicks(self, serial: str | None = None) -> list[Click]:
        """Click messages the cloud received on iotbutton/<serial> (all when None), one per
        eventId, oldest first."""
        return self.click_log.clicks(serial)
