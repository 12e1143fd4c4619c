"""V2 logging options and levels (component `logging_options` of the cloud database)."""

from __future__ import annotations

import sqlite3
from typing import Any

from rig.cloud.core.errors import CloudError, InvalidRequestException, LimitExceededException
from rig.cloud.core.store import Store

LOGGING_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS v2_logging_options (
        id INTEGER PRIMARY KEY CHECK (id = 1), role_arn TEXT,
        default_log_level TEXT NOT NULL, disable_all_logs INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS v2_logging_levels (
        target_type TEXT NOT NULL, target_name TEXT NOT NULL, log_level TEXT NOT NULL,
        PRIMARY KEY (target_type, target_name));
    """,
)

LOG_LEVELS = ("DEBUG", "INFO", "ERROR", "WARN", "DISABLED")
TARGET_TYPES = ("DEFAULT", "THING_GROUP", "CLIENT_ID", "SOURCE_IP", "PRINCIPAL_ID")
DEFAULT_LOG_LEVEL = "ERROR"  # ours (LG-2): the API reference names no default
# "You can configure up to 10 logging targets" (guide, "Fine-grained logging")
MAX_TARGETS = 10


class NotConfiguredException(CloudError):
    code, http_status = "NotConfiguredException", 404


def _level(value: Any, what: str) -> str:
    if value not in LOG_LEVELS:
        raise InvalidRequestException(f"{what} must be one of {', '.join(LOG_LEVELS)}")
    return str(value)


class LoggingOptions:
    def __init__(self, store: Store) -> None:
        self.store = store
        store.migrate("logging_options", LOGGING_MIGRATIONS)

    @staticmethod
    def options(db: sqlite3.Connection) -> sqlite3.Row | None:
        return db.execute("SELECT * FROM v2_logging_options WHERE id = 1").fetchone()

    def set_options(
        self, role_arn: str | None, default_log_level: str | None, disable_all_logs: bool | None
    ) -> None:
        """SetV2LoggingOptions: what is not given keeps its value (first time: the defaults)."""
        if default_log_level is not None:
            _level(default_log_level, "defaultLogLevel")
        with self.store.write() as db:
            current = self.options(db)
            db.execute(
                "INSERT INTO v2_logging_options (id, role_arn, default_log_level,"
                " disable_all_logs) VALUES (1, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET"
                " role_arn = excluded.role_arn, default_log_level = excluded.default_log_level,"
                " disable_all_logs = excluded.disable_all_logs",
                (
                    role_arn if role_arn is not None else current and current["role_arn"],
                    default_log_level
                    or (current["default_log_level"] if current else DEFAULT_LOG_LEVEL),
                    bool(disable_all_logs)
                    if disable_all_logs is not None
                    else bool(current and current["disable_all_logs"]),
                ),
            )

    def set_level(self, target: dict[str, Any], log_level: str) -> None:
        if not isinstance(target, dict):
            raise InvalidRequestException("logTarget must be an object")
        target_type, target_name = target.get("targetType"), target.get("targetName")
        if target_type not in TARGET_TYPES:
            raise InvalidRequestException(
                f"targetType must be one of {', '.join(TARGET_TYPES)}, got {target_type!r}"
            )
        _level(log_level, "logLevel")
        if target_type == "DEFAULT":  # ours (LG-3): the default is set-v2-logging-options'
            raise InvalidRequestException(
                "the DEFAULT level is set with set-v2-logging-options --default-log-level"
            )
        if not isinstance(target_name, str) or not target_name:
            raise InvalidRequestException(f"a {target_type} target needs a targetName")
        with self.store.write() as db:
            if self.options(db) is None:
                raise NotConfiguredException(
                    "V2 logging is not configured: run set-v2-logging-options first"
                )
            if (
                target_type == "THING_GROUP"
                and not db.execute(
                    "SELECT 1 FROM thing_groups WHERE name = ?", (target_name,)
                ).fetchone()
            ):
                raise InvalidRequestException(f"Thing group {target_name} cannot be found.")
            known = db.execute(
                "SELECT 1 FROM v2_logging_levels WHERE target_type = ? AND target_name = ?",
                (target_type, target_name),
            ).fetchone()
            count = db.execute("SELECT COUNT(*) FROM v2_logging_levels").fetchone()[0]
            if known is None and count >= MAX_TARGETS:
                raise LimitExceededException(
                    f"at most {MAX_TARGETS} logging targets can be configured"
                )
            db.execute(
                "INSERT INTO v2_logging_levels (target_type, target_name, log_level)"
                " VALUES (?, ?, ?) ON CONFLICT(target_type, target_name)"
                " DO UPDATE SET log_level = excluded.log_level",
                (target_type, target_name, log_level),
            )

    def levels(self, target_type: str | None = None) -> list[dict[str, Any]]:
        if target_type is not None and target_type not in TARGET_TYPES:
            raise InvalidRequestException(f"targetType must be one of {', '.join(TARGET_TYPES)}")
        db = self.store.read()
        if self.options(db) is None:
            raise NotConfiguredException("V2 logging is not configured")
        rows = db.execute(
            "SELECT * FROM v2_logging_levels ORDER BY target_type, target_name"
        ).fetchall()
        return [
            {
                "logTarget": {"targetType": r["target_type"], "targetName": r["target_name"]},
                "logLevel": r["log_level"],
            }
            for r in rows
            if target_type is None or r["target_type"] == target_type
        ]

    def delete_level(self, target_type: str, target_name: str) -> None:
        if target_type not in TARGET_TYPES:
            raise InvalidRequestException(f"targetType must be one of {', '.join(TARGET_TYPES)}")
        with self.store.write() as db:
            db.execute(
                "DELETE FROM v2_logging_levels WHERE target_type = ? AND target_name = ?",
                (target_type, target_name),
            )
