"""Clicks become 1-Click device events and callbacks.

`ClickDelivery.on_click` is a click-log observer (rig/cloud/clicks/store.py): it runs in the
cloud service once per recorded click (first copy of an eventId), inside the click's transaction.
For a 1-Click device id it records the device event (the press a finalize-device-claim waits for,
what list-device-events shows) there, so the event is visible exactly when the click is (C-12).
For an enabled CLAIMED device it returns the invocations due, which the click log runs after the
commit: its onClickCallback with the guide's click payload, and its health callback when
remainingLife falls below the threshold set (once per crossing). Which callback and when: C-8,
C-9 (docs/cloud-decisions.md).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from typing import Any, Protocol

from rig.cloud.oneclick import engine
from rig.cloud.oneclick.invoker import FunctionInvoker, NoFunctions
from rig.cloud.oneclick.store import OneClickStore, loads

log = logging.getLogger(__name__)
CALLBACK_ERRORS = "oneclick_callback_invocation_errors"  # the guide's CallbackInvocationErrors

CertificateOf = Callable[[str], "str | None"]


class RecordedClick(Protocol):
    """What delivery reads of a recorded click (rig.cloud.clicks.engine.Click has it): declared
    here so this service does not import the clicks service."""

    @property
    def event_id(self) -> str: ...
    @property
    def serial(self) -> str: ...
    @property
    def click_type(self) -> str: ...
    @property
    def reported_time(self) -> str: ...
    @property
    def received_ms(self) -> int: ...


class ClickDelivery:
    def __init__(self, tables: OneClickStore, certificate_of: CertificateOf, region: str) -> None:
        self.tables = tables
        self.store = tables.store
        self.certificate_of = certificate_of
        self.region = region
        self.invoker: FunctionInvoker = NoFunctions()

    def on_click(self, click: RecordedClick) -> Callable[[], None] | None:
        """The device event written in the caller's (the click's) transaction; the callbacks
        due returned as the work for after its commit, None when there are none."""
        if engine.product_of(click.serial) is None:
            return None  # not a 1-Click device id: a plain AWS IoT button
        calls = self._record(click)
        if not calls:
            return None

        def invoke_all() -> None:  # after the commit: the function runtime is not under the lock
            for function_arn, payload in calls:
                self._invoke(function_arn, payload)

        return invoke_all

    def _record(self, click: RecordedClick) -> list[tuple[str, dict[str, Any]]]:
        """The event written (a savepoint when inside the click's transaction); the callbacks
        due."""
        device_id = click.serial
        certificate_id = self.certificate_of(device_id) or ""
        with self.store.write() as db:
            before = engine.remaining_life(self.tables.click_count(db, device_id))
            inserted = db.execute(
                "INSERT INTO oneclick_events (device_id, event_id, click_type, reported_time,"
                " reported_ms, received_ms, certificate_id, remaining_life)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(event_id) DO NOTHING",
                (
                    device_id,
                    click.event_id,
                    click.click_type,
                    click.reported_time,
                    engine.parse_time("reportedTime", click.reported_time),
                    click.received_ms,
                    certificate_id,
                    0.0,
                ),
            ).rowcount
            if not inserted:
                return []
            life = engine.remaining_life(self.tables.click_count(db, device_id))
            db.execute(
                "UPDATE oneclick_events SET remaining_life = ? WHERE event_id = ?",
                (life, click.event_id),
            )
            row = self.tables.device_row(db, device_id)
            if row is None or row["state"] != engine.CLAIMED or not row["enabled"]:
                return []  # C-9: recorded, not delivered
            return self._callbacks(db, row, click, before, life)

    def _callbacks(
        self,
        db: sqlite3.Connection,
        row: sqlite3.Row,
        click: RecordedClick,
        before: float,
        life: float,
    ) -> list[tuple[str, dict[str, Any]]]:
        device_id = row["device_id"]
        info = engine.device_info(
            device_id, self.tables.device_attributes(db, device_id, self.region), life
        )
        placed = self.tables.association(db, device_id)
        placement_info = None
        on_click = _callback_arn(row["on_click"])
        if placed is not None:
            project = db.execute(
                "SELECT * FROM oneclick_projects WHERE name = ?", (placed["project"],)
            ).fetchone()
            placement = db.execute(
                "SELECT * FROM oneclick_placements WHERE project = ? AND name = ?",
                (placed["project"], placed["placement"]),
            ).fetchone()
            template = loads(project["device_templates"]).get(placed["template"], {})
            # C-8: the template's override wins ("invoke instead of the default", botocore)
            on_click = template.get("callbackOverrides", {}).get("onClickCallback") or on_click
            # C-10: the project's defaults, overridden by the placement's own values
            attributes = {
                **loads(project["default_attributes"]),
                **loads(placement["attributes"]),
            }
            placement_info = {
                "projectName": placed["project"],
                "placementName": placed["placement"],
                "attributes": attributes,
                "devices": self.tables.devices_in_placement(
                    db, placed["project"], placed["placement"]
                ),
            }
        calls: list[tuple[str, dict[str, Any]]] = []
        if on_click:
            payload = engine.click_payload(
                click.click_type, click.reported_time, info, placement_info
            )
            calls.append((on_click, payload))
        health = json.loads(row["health"]) if row["health"] else None
        health_arn = _callback_arn(row["health"])
        if health is not None and health_arn:
            threshold = health.get("condition", {}).get("remainingLifeLowerThan")
            if threshold is not None and before >= threshold > life:  # once per crossing
                calls.append((health_arn, engine.health_payload(threshold, info)))
        return calls

    def _invoke(self, function_arn: str, payload: dict[str, Any]) -> None:
        try:
            self.invoker.invoke_event(function_arn, payload)
        except Exception as exc:  # the click stays recorded whatever the invoker does
            with self.store.write() as db:
                self.store.bump(db, CALLBACK_ERRORS)
            log.warning("1-Click callback %s not invoked: %s", function_arn, exc)


def _callback_arn(stored: str | None) -> str | None:
    if not stored:
        return None
    arn = json.loads(stored).get("callback", {}).get("awsLambdaArn")
    return arn if isinstance(arn, str) and arn else None
