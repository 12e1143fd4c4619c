"""The cloud's own log of device events, honouring the v2 logging options and levels.

Each record is decided for its client: `disableAllLogs` drops it; else the level of the most
specific target that has one applies (LG-1): the client id, then the principal (certificate
id), then the thing groups of the thing named like the client id (a child group's level over
its parent's, as the guide's "Fine-grained logging" says), then the default level. A record
less severe than that level is dropped. Kept records go to the cloud's Python log (logger
`rig.cloud.AWSIotLogsV2`, what `buttonrig cloud up` prints) and, as JSON lines in the guide's
log entry format, to `<home>/cloud/logs/AWSIotLogsV2.jsonl` (the log group's name).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from rig.cloud.core import arn
from rig.cloud.core.store import Store
from rig.cloud.logging_options.store import LoggingOptions

LOG_GROUP = "AWSIotLogsV2"
SEVERITY = {"DEBUG": 0, "INFO": 1, "WARN": 2, "ERROR": 3}
PYTHON_LEVELS = {
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "ERROR": logging.ERROR,
}
log = logging.getLogger(f"rig.cloud.{LOG_GROUP}")


class IotLog:
    def __init__(self, store: Store, directory: Path) -> None:
        self.store = store
        self.path = directory / "logs" / f"{LOG_GROUP}.jsonl"
        self._lock = threading.Lock()

    def level_for(self, client_id: str, principal: str = "") -> str:
        """The level in force for this client ("DISABLED" when nothing is logged)."""
        db = self.store.read()
        options = LoggingOptions.options(db)
        if options is None or options["disable_all_logs"]:
            return "DISABLED"
        levels = {
            (r["target_type"], r["target_name"]): r["log_level"]
            for r in db.execute("SELECT * FROM v2_logging_levels")
        }
        for key in (("CLIENT_ID", client_id), ("PRINCIPAL_ID", principal)):
            if key in levels:
                return levels[key]
        group_level = self._group_level(db, client_id, levels)
        return group_level or options["default_log_level"]

    @staticmethod
    def _group_level(
        db: sqlite3.Connection, thing_name: str, levels: dict[tuple[str, str], str]
    ) -> str | None:
        """The level of the deepest group of the thing (or of its ancestors) that has one;
        between groups as deep, the most verbose (ours, LG-1)."""
        found: list[tuple[int, int, str]] = []  # (-depth, severity, level)
        for row in db.execute(
            "SELECT group_name FROM thing_group_members WHERE thing_name = ?", (thing_name,)
        ).fetchall():
            chain = [row["group_name"]]  # the group, then its ancestors
            while True:
                parent = db.execute(
                    "SELECT parent_name FROM thing_groups WHERE name = ?", (chain[-1],)
                ).fetchone()
                if parent is None or parent["parent_name"] is None:
                    break
                chain.append(parent["parent_name"])
            depth = len(chain)
            for offset, name in enumerate(chain):
                level = levels.get(("THING_GROUP", name))
                if level is not None:
                    found.append((-(depth - offset), SEVERITY.get(level, 4), level))
                    break
        return min(found)[2] if found else None

    def emit(self, level: str, client_id: str, principal: str, entry: dict[str, Any]) -> bool:
        """Log one event at `level` for the client if the options let it through."""
        wanted = self.level_for(client_id, principal)
        if wanted == "DISABLED" or SEVERITY[level] < SEVERITY.get(wanted, 4):
            return False
        now = time.time()
        record = {
            "timestamp": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now))
            + f".{int(now * 1000) % 1000:03d}",
            "logLevel": level,
            "traceId": str(uuid.uuid4()),
            "accountId": arn.ACCOUNT,
            **entry,
            "clientId": client_id,
            "principalId": principal,
        }
        line = json.dumps(record, separators=(",", ":"))
        log.log(PYTHON_LEVELS[level], "%s", line)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as stream:
                stream.write(line + "\n")
        return True

    def lifecycle_event(self, event: dict[str, Any]) -> None:
        """A presence event of the lifecycle service as a Connect or Disconnect entry."""
        client_id = str(event.get("clientId", ""))
        principal = str(event.get("principalIdentifier", ""))
        if event.get("eventType") == "connected":
            entry = {"status": "Success", "eventType": "Connect", "protocol": "MQTT"}
            self.emit("INFO", client_id, principal, entry)
            return
        reason = str(event.get("disconnectReason", ""))
        failed = reason in ("AUTH_ERROR", "CLIENT_ERROR")  # ours, LG-4
        entry = {
            "status": "Failure" if failed else "Success",
            "eventType": "Disconnect",
            "protocol": "MQTT",
            "disconnectReason": reason,
        }
        self.emit("ERROR" if failed else "INFO", client_id, principal, entry)
