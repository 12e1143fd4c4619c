"""The rig's home directory: one rig's state (cloud database, CA, broker files, emulated flash)."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_HOME = ".buttonrig"


def rig_home(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the home directory: an explicit path, else $BUTTONRIG_HOME, else ./.buttonrig.

    The directory is created private (0700): it holds private keys.
    """
    path = Path(explicit or os.environ.get("BUTTONRIG_HOME") or DEFAULT_HOME).resolve()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path
