"""`aws iot1click-devices`: claim, describe, list, enable, methods, events and tags of devices.

Response keys are the devices API's UpperCamel ones (DeviceId, RemainingLife, Tags), as the CLI
page prints them. Which serials are devices at all, and how the claim goes, are C-1 and C-2.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from rig.cloud.core.errors import InvalidRequestException, ResourceNotFoundException
from rig.cloud.oneclick import engine
from rig.cloud.oneclick.engine import (
    CLAIM_INITIATED,
    CLAIMED,
    DEVICE_TYPE,
    UNCLAIMED,
    PreconditionFailedException,
    RangeNotSatisfiableException,
    ResourceConflictException,
)
from rig.cloud.oneclick.store import OneClickStore, dumps, loads, paged

CertificateOf = Callable[[str], "str | None"]  # device id -> its thing's ACTIVE certificate id


def device_arn(region: str, account: str, device_id: str) -> str:
    return f"arn:aws:iot1click:{region}:{account}:devices/{device_id}"


class Devices:
    def __init__(
        self, tables: OneClickStore, certificate_of: CertificateOf, region: str, account: str
    ) -> None:
        self.tables = tables
        self.store = tables.store
        self.certificate_of = certificate_of
        self.region = region
        self.account = account

    # ---- claim ------------------------------------------------------------------------------

    def _known(self, device_id: str) -> engine.Product:
        """C-1: a 1-Click serial whose thing exists with an ACTIVE certificate (what the
        factory's pre-provisioning is here); ResourceNotFoundException otherwise."""
        product = engine.check_device_id(device_id)
        if self.certificate_of(device_id) is None:
            raise ResourceNotFoundException(
                f"device {device_id}: no such device (no thing {device_id} with an ACTIVE"
                " certificate: provision the button first)"
            )
        return product

    def initiate_device_claim(self, device_id: str) -> dict[str, Any]:
        self._known(device_id)
        now_ms = int(time.time() * 1000)
        with self.store.write() as db:
            state = self.tables.state(db, device_id)
            if state == CLAIMED:
                raise ResourceConflictException(f"device {device_id} is already claimed")
            # C-2: initiating again restarts the wait for a press
            db.execute(
                "INSERT INTO oneclick_devices (device_id, state, claim_started_ms, claim_after_seq)"
                " VALUES (?, ?, ?, ?) ON CONFLICT(device_id) DO UPDATE SET"
                " state = excluded.state, claim_started_ms = excluded.claim_started_ms,"
                " claim_after_seq = excluded.claim_after_seq",
                (device_id, CLAIM_INITIATED, now_ms, self.tables.last_event_seq(db)),
            )
        return {"State": CLAIM_INITIATED}

    def finalize_device_claim(
        self, device_id: str, tags: dict[str, str] | None = None
    ) -> dict[str, Any]:
        self._known(device_id)
        checked_tags = engine.check_tags(tags) if tags else {}
        with self.store.write() as db:
            row = self.tables.device_row(db, device_id)
            state = UNCLAIMED if row is None else row["state"]
            if state == CLAIMED:
                raise ResourceConflictException(f"device {device_id} is already claimed")
            if row is None or state != CLAIM_INITIATED:
                raise PreconditionFailedException(
                    f"device {device_id}: no claim initiated (run initiate-device-claim, press"
                    " the button, then finalize-device-claim)"
                )
            pressed = db.execute(  # C-2: recorded after the initiate, whatever the clock says
                "SELECT 1 FROM oneclick_events WHERE device_id = ? AND seq > ?",
                (device_id, row["claim_after_seq"]),
            ).fetchone()
            if pressed is None:
                raise PreconditionFailedException(
                    f"device {device_id}: no click since initiate-device-claim; press the button"
                    " (solid green once its click reached the cloud), then finalize again"
                )
            db.execute(
                "UPDATE oneclick_devices SET state = ?, enabled = 0, tags = ? WHERE device_id = ?",
                (CLAIMED, dumps(checked_tags), device_id),
            )
        return {"State": CLAIMED}

    def register_claim_code(self, claim_code: str, device_ids: list[str]) -> None:
        """The manufacturer's side (not an AWS call): the devices a claim code claims (C-3)."""
        if not (claim_code.startswith("C-") and 12 <= len(claim_code) <= 40):
            raise InvalidRequestException(
                f"claim code {claim_code!r}: 'C-' then 10-38 characters (ClaimCode: 12-40)"
            )
        for device_id in device_ids:
            if not self._known(device_id).by_claim_code:
                raise InvalidRequestException(
                    f"device {device_id}: claimed by its device id, not by a claim code"
                )
        with self.store.write() as db:
            db.executemany(
                "INSERT INTO oneclick_claim_codes (claim_code, device_id) VALUES (?, ?)"
                " ON CONFLICT(device_id) DO UPDATE SET claim_code = excluded.claim_code",
                [(claim_code, d) for d in device_ids],
            )

    def claim_devices_by_claim_code(self, claim_code: str) -> dict[str, Any]:
        now_ms = int(time.time() * 1000)
        with self.store.write() as db:
            rows = db.execute(
                "SELECT device_id FROM oneclick_claim_codes WHERE claim_code = ?", (claim_code,)
            ).fetchall()
            if not rows:
                raise InvalidRequestException(f"claim code {claim_code!r} is not valid")
            for row in rows:
                db.execute(
                    "INSERT INTO oneclick_devices (device_id, state, claim_started_ms, claim_after_seq)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT(device_id) DO UPDATE SET state = excluded.state"
                    " WHERE state != 'CLAIMED'",
                    (row["device_id"], CLAIMED, now_ms, self.tables.last_event_seq(db)),
                )
        return {"Total": len(rows), "ClaimCode": claim_code}

    def unclaim_device(self, device_id: str) -> dict[str, Any]:
        engine.check_device_id(device_id)
        with self.store.write() as db:
            row = self.tables.device_row(db, device_id)
            if row is None or row["state"] == UNCLAIMED:
                raise ResourceNotFoundException(f"device {device_id} is not claimed")
            placed = self.tables.association(db, device_id)
            if placed is not None:  # C-4
                raise InvalidRequestException(
                    f"device {device_id} is in placement {placed['placement']} of project"
                    f" {placed['project']}: disassociate-device-from-placement first"
                )
            # C-4: the next owner starts afresh (state, tags, callbacks); the wear stays
            db.execute(
                "UPDATE oneclick_devices SET state = ?, enabled = 0, tags = '{}', on_click = NULL,"
                " health = NULL WHERE device_id = ?",
                (UNCLAIMED, device_id),
            )
        return {"State": UNCLAIMED}

    # ---- describe / list / state --------------------------------------------------------------

    def _description(self, db: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
        device_id = row["device_id"]
        return {
            "Arn": device_arn(self.region, self.account, device_id),
            "Attributes": self.tables.device_attributes(db, device_id, self.region),
            "DeviceId": device_id,
            "Enabled": bool(row["enabled"]),
            "RemainingLife": engine.remaining_life(self.tables.click_count(db, device_id)),
            "Type": DEVICE_TYPE,
            "Tags": loads(row["tags"]),
        }

    def describe_device(self, device_id: str) -> dict[str, Any]:
        db = self.store.read()
        return {"DeviceDescription": self._description(db, self.tables.claimed_row(db, device_id))}

    def list_devices(
        self,
        device_type: str | None = None,
        max_results: int | None = None,
        next_token: str | None = None,
    ) -> dict[str, Any]:
        db = self.store.read()
        if device_type is not None and device_type != DEVICE_TYPE:
            return {"Devices": []}  # C-1: every 1-Click device here is a button
        rows = db.execute(
            "SELECT * FROM oneclick_devices WHERE state = ? ORDER BY device_id", (CLAIMED,)
        ).fetchall()
        page, token = paged(rows, max_results, next_token, ("MaxResults", "NextToken"))
        response: dict[str, Any] = {"Devices": [self._description(db, r) for r in page]}
        if token:
            response["NextToken"] = token
        return response

    def update_device_state(self, device_id: str, enabled: bool | None = None) -> dict[str, Any]:
        with self.store.write() as db:
            self.tables.claimed_row(db, device_id)
            if enabled is not None:
                db.execute(
                    "UPDATE oneclick_devices SET enabled = ? WHERE device_id = ?",
                    (int(enabled), device_id),
                )
        return {}

    # ---- methods --------------------------------------------------------------------------------

    def get_device_methods(self, device_id: str) -> dict[str, Any]:
        self.tables.claimed_row(self.store.read(), device_id)
        return {"DeviceMethods": [{"MethodName": name} for name, _ in engine.METHODS]}

    def invoke_device_method(
        self,
        device_id: str,
        device_method: dict[str, Any] | None = None,
        device_method_parameters: str | None = None,
    ) -> dict[str, Any]:
        if not isinstance(device_method, dict) or not isinstance(
            device_method.get("MethodName"), str
        ):
            raise InvalidRequestException(
                f'{engine.BAD_PARAMETER} DeviceMethod: {{"DeviceType": ..., "MethodName": ...}}'
            )
        method = device_method["MethodName"]
        parsed = engine.method_parameters(
            method, device_method.get("DeviceType"), device_method_parameters
        )
        with self.store.write() as db:
            row = self.tables.claimed_row(db, device_id)
            if method == "getDeviceHealthParameters":
                life = engine.remaining_life(self.tables.click_count(db, device_id))
                return {"DeviceMethodResponse": json.dumps({"remainingLife": life})}
            column = "on_click" if method.endswith("OnClickCallback") else "health"
            if method.startswith("get"):  # C-7: the parameters a set took, {} before any
                return {"DeviceMethodResponse": row[column] or "{}"}
            if parsed.get("deviceId", device_id) != device_id:  # the Java builder's field
                raise InvalidRequestException(
                    f"{engine.BAD_PARAMETER} deviceId {parsed['deviceId']!r} is not {device_id}"
                )
            stored = {k: v for k, v in parsed.items() if k in ("callback", "condition")}
            db.execute(
                f"UPDATE oneclick_devices SET {column} = ? WHERE device_id = ?",
                (dumps(stored) if stored["callback"].get("awsLambdaArn") else None, device_id),
            )
        return {}

    # ---- events ----------------------------------------------------------------------------------

    def list_device_events(
        self,
        device_id: str,
        from_time_stamp: str,
        to_time_stamp: str,
        max_results: int | None = None,
        next_token: str | None = None,
    ) -> dict[str, Any]:
        start = engine.parse_time("FromTimeStamp", from_time_stamp)
        end = engine.parse_time("ToTimeStamp", to_time_stamp)
        if end < start:
            raise RangeNotSatisfiableException("ToTimeStamp is before FromTimeStamp")
        db = self.store.read()
        row = self.tables.claimed_row(db, device_id)
        rows = db.execute(  # C-6: this claim's events, by the button's reportedTime, oldest first
            "SELECT * FROM oneclick_events WHERE device_id = ? AND seq > ?"
            " AND reported_ms >= ? AND reported_ms <= ? ORDER BY reported_ms, seq",
            (device_id, row["claim_after_seq"], start, end),
        ).fetchall()
        page, token = paged(rows, max_results, next_token, ("MaxResults", "NextToken"))
        device = {"Attributes": {}, "DeviceId": device_id, "Type": DEVICE_TYPE}
        events = [
            {
                "Device": device,
                "StdEvent": json.dumps(
                    engine.std_event(
                        e["click_type"],
                        e["reported_time"],
                        e["certificate_id"],
                        e["remaining_life"],
                    )
                ),
            }
            for e in page
        ]
        response: dict[str, Any] = {"Events": events}
        if token:
            response["NextToken"] = token
        return response

    # ---- tags ------------------------------------------------------------------------------------

    def _device_of_arn(self, resource_arn: str) -> str:
        prefix = device_arn(self.region, self.account, "")
        if not resource_arn.startswith(prefix):
            raise ResourceNotFoundException(f"no device with ARN {resource_arn}")
        return resource_arn[len(prefix) :]

    def tag_resource(self, resource_arn: str, tags: dict[str, str]) -> dict[str, Any]:
        device_id = self._device_of_arn(resource_arn)
        checked = engine.check_tags(tags)
        with self.store.write() as db:
            current = loads(self.tables.claimed_row(db, device_id)["tags"])
            updated = {**current, **checked}
            if len(updated) > engine.MAX_TAGS:
                raise InvalidRequestException(f"at most {engine.MAX_TAGS} tags per resource")
            db.execute(
                "UPDATE oneclick_devices SET tags = ? WHERE device_id = ?",
                (dumps(updated), device_id),
            )
        return {}

    def untag_resource(self, resource_arn: str, tag_keys: list[str]) -> dict[str, Any]:
        device_id = self._device_of_arn(resource_arn)
        with self.store.write() as db:
            current = loads(self.tables.claimed_row(db, device_id)["tags"])
            kept = {k: v for k, v in current.items() if k not in set(tag_keys)}
            db.execute(
                "UPDATE oneclick_devices SET tags = ? WHERE device_id = ?",
                (dumps(kept), device_id),
            )
        return {}

    def list_tags_for_resource(self, resource_arn: str) -> dict[str, Any]:
        device_id = self._device_of_arn(resource_arn)
        return {"Tags": loads(self.tables.claimed_row(self.store.read(), device_id)["tags"])}
