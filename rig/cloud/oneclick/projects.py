"""`aws iot1click-projects`: projects, placements, device associations and project tags.

Response keys are the projects API's lowerCamel ones; dates are epoch seconds, as the CLI page
prints them. Limits and name rules: rig/cloud/oneclick/engine.py (botocore's model, the guide's
service limits).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any

from rig.cloud.core.errors import InvalidRequestException, ResourceNotFoundException
from rig.cloud.oneclick import engine
from rig.cloud.oneclick.engine import ResourceConflictException
from rig.cloud.oneclick.store import OneClickStore, dumps, loads, paged

Clock = Callable[[], float]


class Projects:
    def __init__(
        self, tables: OneClickStore, region: str, account: str, clock: Clock = time.time
    ) -> None:
        self.tables = tables
        self.store = tables.store
        self.region = region
        self.account = account
        self.clock = clock

    def project_arn(self, name: str) -> str:
        return f"arn:aws:iot1click:{self.region}:{self.account}:projects/{name}"

    # ---- projects ------------------------------------------------------------------------------

    def _project_row(self, db: sqlite3.Connection, name: str) -> sqlite3.Row:
        row = db.execute("SELECT * FROM oneclick_projects WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise ResourceNotFoundException(f"project {name} does not exist")
        return row

    def create_project(
        self,
        project_name: str,
        description: str | None = None,
        placement_template: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        engine.check_name("projectName", project_name)
        template = placement_template or {}
        if not isinstance(template, dict):
            raise InvalidRequestException("placementTemplate: expected an object")
        unknown = set(template) - {"defaultAttributes", "deviceTemplates"}
        if unknown:
            raise InvalidRequestException(f"placementTemplate: unknown keys {sorted(unknown)}")
        defaults = engine.check_attributes(
            "defaultAttributes", template.get("defaultAttributes", {})
        )
        devices = engine.check_device_templates(template.get("deviceTemplates", {}))
        text = engine.check_description(description if description is not None else "")
        checked_tags = engine.check_tags(tags) if tags else {}
        now = int(self.clock())
        with self.store.write() as db:
            if db.execute(
                "SELECT 1 FROM oneclick_projects WHERE name = ?", (project_name,)
            ).fetchone():
                raise ResourceConflictException(f"project {project_name} already exists")
            count = db.execute("SELECT COUNT(*) FROM oneclick_projects").fetchone()[0]
            if count >= engine.MAX_PROJECTS:
                raise InvalidRequestException(
                    f"{count} projects: at most {engine.MAX_PROJECTS} per region and account"
                    " (AWS IoT 1-Click service limit)"
                )
            db.execute(
                "INSERT INTO oneclick_projects (name, description, default_attributes,"
                " device_templates, tags, created_s, updated_s, seq) VALUES (?, ?, ?, ?, ?, ?, ?,"
                " (SELECT COALESCE(MAX(seq), 0) + 1 FROM oneclick_projects))",
                (
                    project_name,
                    text,
                    dumps(defaults),
                    dumps(devices),
                    dumps(checked_tags),
                    now,
                    now,
                ),
            )
        return {}

    def describe_project(self, project_name: str) -> dict[str, Any]:
        row = self._project_row(self.store.read(), project_name)
        project: dict[str, Any] = {
            "arn": self.project_arn(row["name"]),
            "projectName": row["name"],
            "description": row["description"],
            "createdDate": row["created_s"],
            "updatedDate": row["updated_s"],
            "placementTemplate": {
                "defaultAttributes": loads(row["default_attributes"]),
                "deviceTemplates": loads(row["device_templates"]),
            },
            "tags": loads(row["tags"]),
        }
        return {"project": project}

    def list_projects(
        self, max_results: int | None = None, next_token: str | None = None
    ) -> dict[str, Any]:
        rows = self.store.read().execute("SELECT * FROM oneclick_projects ORDER BY seq").fetchall()
        page, token = paged(rows, max_results, next_token, ("maxResults", "nextToken"))
        response: dict[str, Any] = {
            "projects": [
                {
                    "arn": self.project_arn(r["name"]),
                    "projectName": r["name"],
                    "createdDate": r["created_s"],
                    "updatedDate": r["updated_s"],
                    "tags": loads(r["tags"]),
                }
                for r in page
            ]
        }
        if token:
            response["nextToken"] = token
        return response

    def update_project(
        self,
        project_name: str,
        description: str | None = None,
        placement_template: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Only what is given changes; "" clears (botocore's UpdateProject doc). Device templates
        cannot be added or removed, their callbackOverrides can be replaced."""
        with self.store.write() as db:
            row = self._project_row(db, project_name)
            text = row["description"]
            if description is not None:
                text = engine.check_description(description)
            defaults = loads(row["default_attributes"])
            devices = loads(row["device_templates"])
            if placement_template is not None:
                if not isinstance(placement_template, dict):
                    raise InvalidRequestException("placementTemplate: expected an object")
                if "defaultAttributes" in placement_template:
                    update = engine.check_attributes(
                        "defaultAttributes", placement_template["defaultAttributes"]
                    )
                    defaults = engine.merged(defaults, update)
                if "deviceTemplates" in placement_template:
                    given = engine.check_device_templates(placement_template["deviceTemplates"])
                    added = set(given) - set(devices)
                    if added:
                        raise InvalidRequestException(
                            f"device templates cannot be added after the project is created:"
                            f" {sorted(added)}"
                        )
                    raw = placement_template["deviceTemplates"]
                    for name, template in given.items():
                        if "callbackOverrides" in raw[name]:
                            devices[name]["callbackOverrides"] = template["callbackOverrides"]
            db.execute(
                "UPDATE oneclick_projects SET description = ?, default_attributes = ?,"
                " device_templates = ?, updated_s = ? WHERE name = ?",
                (text, dumps(defaults), dumps(devices), int(self.clock()), project_name),
            )
        return {}

    def delete_project(self, project_name: str) -> dict[str, Any]:
        with self.store.write() as db:
            self._project_row(db, project_name)
            placements = db.execute(
                "SELECT COUNT(*) FROM oneclick_placements WHERE project = ?", (project_name,)
            ).fetchone()[0]
            if placements:  # botocore: "it must not have any placements associated with it"
                raise InvalidRequestException(
                    f"project {project_name} has {placements} placement(s): delete them first"
                )
            db.execute("DELETE FROM oneclick_projects WHERE name = ?", (project_name,))
        return {}

    # ---- placements ----------------------------------------------------------------------------

    def _placement_row(self, db: sqlite3.Connection, project: str, name: str) -> sqlite3.Row:
        self._project_row(db, project)
        row = db.execute(
            "SELECT * FROM oneclick_placements WHERE project = ? AND name = ?", (project, name)
        ).fetchone()
        if row is None:
            raise ResourceNotFoundException(
                f"placement {name} does not exist in project {project}"
            )
        return row

    def create_placement(
        self, project_name: str, placement_name: str, attributes: dict[str, str] | None = None
    ) -> dict[str, Any]:
        engine.check_name("placementName", placement_name)
        checked = engine.check_attributes("attributes", attributes or {})
        now = int(self.clock())
        with self.store.write() as db:
            self._project_row(db, project_name)
            exists = db.execute(
                "SELECT 1 FROM oneclick_placements WHERE project = ? AND name = ?",
                (project_name, placement_name),
            ).fetchone()
            if exists:
                raise ResourceConflictException(
                    f"placement {placement_name} already exists in project {project_name}"
                )
            db.execute(
                "INSERT INTO oneclick_placements (project, name, attributes, created_s, updated_s,"
                " seq) VALUES (?, ?, ?, ?, ?,"
                " (SELECT COALESCE(MAX(seq), 0) + 1 FROM oneclick_placements))",
                (project_name, placement_name, dumps(checked), now, now),
            )
        return {}

    def describe_placement(self, project_name: str, placement_name: str) -> dict[str, Any]:
        row = self._placement_row(self.store.read(), project_name, placement_name)
        return {
            "placement": {
                "projectName": row["project"],
                "placementName": row["name"],
                "attributes": loads(row["attributes"]),
                "createdDate": row["created_s"],
                "updatedDate": row["updated_s"],
            }
        }

    def list_placements(
        self, project_name: str, max_results: int | None = None, next_token: str | None = None
    ) -> dict[str, Any]:
        db = self.store.read()
        self._project_row(db, project_name)
        rows = db.execute(
            "SELECT * FROM oneclick_placements WHERE project = ? ORDER BY seq", (project_name,)
        ).fetchall()
        page, token = paged(rows, max_results, next_token, ("maxResults", "nextToken"))
        response: dict[str, Any] = {
            "placements": [
                {
                    "projectName": r["project"],
                    "placementName": r["name"],
                    "createdDate": r["created_s"],
                    "updatedDate": r["updated_s"],
                }
                for r in page
            ]
        }
        if token:
            response["nextToken"] = token
        return response

    def update_placement(
        self, project_name: str, placement_name: str, attributes: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Given attributes replace, "" clears one (C-10, botocore's UpdatePlacement doc)."""
        update = engine.check_attributes("attributes", attributes or {})
        with self.store.write() as db:
            row = self._placement_row(db, project_name, placement_name)
            result = engine.merged(loads(row["attributes"]), update)
            if len(result) > engine.MAX_ATTRIBUTES:
                raise InvalidRequestException(f"at most {engine.MAX_ATTRIBUTES} attributes")
            db.execute(
                "UPDATE oneclick_placements SET attributes = ?, updated_s = ?"
                " WHERE project = ? AND name = ?",
                (dumps(result), int(self.clock()), project_name, placement_name),
            )
        return {}

    def delete_placement(self, project_name: str, placement_name: str) -> dict[str, Any]:
        with self.store.write() as db:
            self._placement_row(db, project_name, placement_name)
            devices = self.tables.devices_in_placement(db, project_name, placement_name)
            if devices:  # botocore: "it must not have any devices associated with it"
                raise InvalidRequestException(
                    f"placement {placement_name} has devices {devices}: disassociate them first"
                )
            db.execute(
                "DELETE FROM oneclick_placements WHERE project = ? AND name = ?",
                (project_name, placement_name),
            )
        return {}

    # ---- devices in placements -----------------------------------------------------------------

    def associate_device_with_placement(
        self, project_name: str, placement_name: str, device_id: str, device_template_name: str
    ) -> dict[str, Any]:
        engine.check_device_id(device_id)
        with self.store.write() as db:
            project = self._project_row(db, project_name)
            self._placement_row(db, project_name, placement_name)
            if device_template_name not in loads(project["device_templates"]):
                raise InvalidRequestException(
                    f"project {project_name} has no device template {device_template_name!r}"
                )
            self.tables.claimed_row(db, device_id)
            placed = self.tables.association(db, device_id)
            if placed is not None:
                raise ResourceConflictException(
                    f"device {device_id} is already in placement {placed['placement']} of"
                    f" project {placed['project']} as {placed['template']}"
                )
            taken = self.tables.devices_in_placement(db, project_name, placement_name)
            if device_template_name in taken:
                raise ResourceConflictException(
                    f"placement {placement_name} already has device"
                    f" {taken[device_template_name]} as {device_template_name}"
                )
            db.execute(
                "INSERT INTO oneclick_associations (project, placement, template, device_id)"
                " VALUES (?, ?, ?, ?)",
                (project_name, placement_name, device_template_name, device_id),
            )
        return {}

    def disassociate_device_from_placement(
        self, project_name: str, placement_name: str, device_template_name: str
    ) -> dict[str, Any]:
        with self.store.write() as db:
            self._placement_row(db, project_name, placement_name)
            deleted = db.execute(
                "DELETE FROM oneclick_associations WHERE project = ? AND placement = ?"
                " AND template = ?",
                (project_name, placement_name, device_template_name),
            ).rowcount
            if not deleted:
                raise ResourceNotFoundException(
                    f"placement {placement_name} has no device as {device_template_name!r}"
                )
        return {}

    def get_devices_in_placement(self, project_name: str, placement_name: str) -> dict[str, Any]:
        db = self.store.read()
        self._placement_row(db, project_name, placement_name)
        return {"devices": self.tables.devices_in_placement(db, project_name, placement_name)}

    # ---- tags ------------------------------------------------------------------------------------

    def _project_of_arn(self, resource_arn: str) -> str:
        prefix = self.project_arn("")
        if not resource_arn.startswith(prefix):
            raise ResourceNotFoundException(f"no project with ARN {resource_arn}")
        return resource_arn[len(prefix) :]

    def tag_resource(self, resource_arn: str, tags: dict[str, str]) -> dict[str, Any]:
        """Tags leave updatedDate alone (the CLI page's describe-project after tagging)."""
        name = self._project_of_arn(resource_arn)
        checked = engine.check_tags(tags)
        with self.store.write() as db:
            updated = {**loads(self._project_row(db, name)["tags"]), **checked}
            if len(updated) > engine.MAX_TAGS:
                raise InvalidRequestException(f"at most {engine.MAX_TAGS} tags per resource")
            db.execute(
                "UPDATE oneclick_projects SET tags = ? WHERE name = ?", (dumps(updated), name)
            )
        return {}

    def untag_resource(self, resource_arn: str, tag_keys: list[str]) -> dict[str, Any]:
        name = self._project_of_arn(resource_arn)
        with self.store.write() as db:
            current = loads(self._project_row(db, name)["tags"])
            kept = {k: v for k, v in current.items() if k not in set(tag_keys)}
            db.execute("UPDATE oneclick_projects SET tags = ? WHERE name = ?", (dumps(kept), name))
        return {}

    def list_tags_for_resource(self, resource_arn: str) -> dict[str, Any]:
        name = self._project_of_arn(resource_arn)
        return {"tags": loads(self._project_row(self.store.read(), name)["tags"])}
