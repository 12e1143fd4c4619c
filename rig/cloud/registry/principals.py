"""Thing principals: which certificates are attached to which things."""

from __future__ import annotations

from typing import Any

from rig.cloud.core import arn
from rig.cloud.core.errors import (
    ResourceNotFoundException,
)
from rig.cloud.core.store import Store
from rig.cloud.registry.things import thing_row


class PrincipalOperations:
    store: Store

    def attach_thing_principal(self, thing_name: str, principal: str) -> dict[str, Any]:
        certificate_id = arn.resource_name(principal, "cert")
        with self.store.write() as db:
            thing_row(db, thing_name)
            if (
                certificate_id is None
                or not db.execute(
                    "SELECT 1 FROM certificates WHERE certificate_id = ?", (certificate_id,)
                ).fetchone()
            ):
                raise ResourceNotFoundException(f"Principal {principal} cannot be found.")
            db.execute(
                "INSERT OR IGNORE INTO thing_principals (thing_name, principal) VALUES (?, ?)",
                (thing_name, principal),
            )
            self.store.bump(db, "auth_generation")
        return {}

    def detach_thing_principal(self, thing_name: str, principal: str) -> dict[str, Any]:
        with self.store.write() as db:
            thing_row(db, thing_name)
            db.execute(
                "DELETE FROM thing_principals WHERE thing_name = ? AND principal = ?",
                (thing_name, principal),
            )
            self.store.bump(db, "auth_generation")
        return {}

    def list_thing_principals(self, thing_name: str) -> dict[str, Any]:
        db = self.store.read()
        thing_row(db, thing_name)
        rows = db.execute(
            "SELECT principal FROM thing_principals WHERE thing_name = ? ORDER BY principal",
            (thing_name,),
        )
        return {"principals": [r["principal"] for r in rows.fetchall()]}

    def things_of_principal(self, principal: str) -> list[str]:
        rows = self.store.read().execute(
            "SELECT thing_name FROM thing_principals WHERE principal = ? ORDER BY thing_name",
            (principal,),
        )
        return [r["thing_name"] for r in rows.fetchall()]
