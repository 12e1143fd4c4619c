"""What every service's control-plane API shares: the database, the home, and keeping the
broker in step with a change of certificates, policies or attachments.

Every process of a rig opens the same SQLite database, so an API works whether or not
`buttonrig cloud up` runs. When it runs, an auth change must reach the broker at once: in the
cloud's own process the runtime applies it synchronously (`auth_applier`); from another process
we wait until the running cloud reports it applied (counter `auth_applied`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rig.cloud.core import endpoint
from rig.cloud.core.store import Store

AUTH_SYNC_TIMEOUT_S = 15.0


class ControlPlane:
    """The base of each service's API mixin (registry/api.py, shadow/api.py, …)."""

    home: Path
    store: Store
    # set by a CloudRuntime in this process: applies auth changes to the broker now
    auth_applier: Callable[[], None] | None = None

    def _auth_changed(self) -> None:
        if self.auth_applier is not None:
            self.auth_applier()
            return
        running = endpoint.running_cloud(self.home)
        if running is None:
            return
        wanted = self.store.counter("auth_generation")
        deadline = time.monotonic() + AUTH_SYNC_TIMEOUT_S
        while self.store.counter("auth_applied") < wanted:
            if time.monotonic() > deadline or endpoint.running_cloud(self.home) is None:
                return  # the running cloud still polls and applies it; do not fail the call
            time.sleep(0.02)

    def _mutating(self, result: dict[str, Any]) -> dict[str, Any]:
        self._auth_changed()
        return result
