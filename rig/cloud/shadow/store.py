"""Shadow persistence around the pure engine (rig/cloud/shadow/engine.py).

One operation = one write transaction: read the stored shadow, run the engine, store the result,
commit, and only then hand back the replies to publish. So an accepted reply is never sent for an
update that a crash of the cloud could lose (rig/cloud/core/store.py: WAL, synchronous=NORMAL).

Each connection keeps the shadows it last read or wrote, parsed (`_ParsedShadows`): a device
that updates its shadow again skips the SELECT and the JSON parse of the stored document. The
copies are dropped as soon as anybody else may have written: another connection committed
(`PRAGMA data_version` changed) or this connection wrote outside `handle` (`total_changes`).
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rig.cloud.core import jsoncodec
from rig.cloud.core.errors import (
    CloudError,
    ConflictException,
    ForbiddenException,
    InternalFailureException,
    InvalidRequestException,
    RequestEntityTooLargeException,
    ResourceNotFoundException,
    ServiceUnavailableException,
    ThrottlingException,
    UnauthorizedException,
    UnsupportedDocumentEncodingException,
)
from rig.cloud.core.events import enqueue
from rig.cloud.core.store import Store
from rig.cloud.registry import THING_NAME
from rig.cloud.shadow import engine as engine

OPERATIONS = ("update", "get", "delete")
MAX_PARSED_SHADOWS = 1024  # per connection; beyond that the copies start afresh
# Named shadows: 1-64 characters from the thing-name alphabet, today's AWS limit (ours, S-24).
SHADOW_NAME = re.compile(r"[a-zA-Z0-9:_-]{1,64}")


def check_names(thing_name: str, shadow_name: str) -> None:
    """Raise the 400 ShadowError for a thing or shadow name AWS would refuse ("" = classic).

    Over MQTT the names come from the topic, where any UTF-8 but `/`, `+` and `#` can appear."""
    if not THING_NAME.fullmatch(thing_name):
        raise engine.ShadowError.invalid_thing_name()
    if shadow_name and not SHADOW_NAME.fullmatch(shadow_name):
        raise engine.ShadowError.invalid_shadow_name()


def check_shadow_name(shadow_name: str) -> str:
    """The REST API's check: InvalidRequestException naming the problem, like check_name's."""
    if not SHADOW_NAME.fullmatch(shadow_name):
        raise InvalidRequestException(
            f"shadowName {shadow_name!r} is invalid: 1-64 characters from [a-zA-Z0-9:_-]"
        )
    return shadow_name


def shadow_topic(thing_name: str, shadow_name: str = "") -> str:
    base = f"$aws/things/{thing_name}/shadow"
    return f"{base}/name/{shadow_name}" if shadow_name else base


# Component `shadow` of the cloud database (rig/cloud/core/store.py). `IF NOT EXISTS`: a
# database from before the split into services has these tables under `core` already.
SHADOW_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS shadows (
        thing_name TEXT NOT NULL, shadow_name TEXT NOT NULL DEFAULT '', document TEXT NOT NULL,
        PRIMARY KEY (thing_name, shadow_name));
    """,
)


@dataclass
class ShadowOutcome:
    """Replies of one request: (topic, body) pairs in publish order; `error` when rejected."""

    messages: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    accepted: dict[str, Any] | None = None
    error: engine.ShadowError | None = None


@dataclass
class _ParsedShadows:
    """Parsed stored shadows of one connection, valid while nobody else wrote (see module doc).
    The engine never modifies a Shadow it is given, so these are shared, not copied."""

    connection: sqlite3.Connection
    data_version: int
    total_changes: int
    shadows: dict[tuple[str, str], engine.Shadow | None] = field(default_factory=dict)


# Called inside a shadow's write transaction after an accepted update or delete, with (db,
# thing name, shadow name): the indexing service keeps dynamic groups in step.
ShadowChangeObserver = Callable[[sqlite3.Connection, str, str], None]


class ShadowStore:
    """Runs shadow requests against the database."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.change_observers: list[ShadowChangeObserver] = []
        store.migrate("shadow", SHADOW_MIGRATIONS)
        self._local = threading.local()  # connections are per thread (Store), so are the copies

    def _parsed(self, db: sqlite3.Connection) -> _ParsedShadows:
        """This connection's parsed shadows, emptied when they may be stale. Inside the write
        transaction: nobody can commit between this check and our commit."""
        data_version = int(db.execute("PRAGMA data_version").fetchone()[0])
        parsed: _ParsedShadows | None = getattr(self._local, "parsed", None)
        if (
            parsed is None
            or parsed.connection is not db
            or parsed.data_version != data_version
            or parsed.total_changes != db.total_changes
            or len(parsed.shadows) >= MAX_PARSED_SHADOWS
        ):
            parsed = _ParsedShadows(db, data_version, db.total_changes)
            self._local.parsed = parsed
        return parsed

    def handle(
        self,
        operation: str,
        thing_name: str,
        payload: bytes,
        shadow_name: str = "",
        *,
        to_outbox: bool = False,
    ) -> ShadowOutcome:
        """Apply one request (as received on `$aws/things/<thing>/shadow/<operation>`).

        `to_outbox`: also queue an accepted request's messages in the outbox, in the same
        transaction as the shadow, so a crash cannot keep the change and lose its notifications
        (the REST API: its caller is not the cloud service, which publishes the outbox)."""
        if operation not in OPERATIONS:
            raise ValueError(f"shadow operation must be one of {OPERATIONS}, got {operation!r}")
        topic = f"{shadow_topic(thing_name, shadow_name)}/{operation}"
        now = int(time.time())
        key = (thing_name, shadow_name)
        try:
            check_names(thing_name, shadow_name)  # before any database work: nothing is stored
            with self.store.write() as db:
                parsed = self._parsed(db)
                if key in parsed.shadows:
                    current = parsed.shadows[key]
                else:
                    row = db.execute(
                        "SELECT document FROM shadows WHERE thing_name = ? AND shadow_name = ?",
                        key,
                    ).fetchone()
                    current = engine.Shadow.from_json(row["document"]) if row else None
                outcome = self._apply(operation, topic, current, payload, now)
                stored = outcome.pop("shadow", None)
                if stored is not None:
                    db.execute(
                        "INSERT INTO shadows (thing_name, shadow_name, document) VALUES (?, ?, ?)"
                        " ON CONFLICT(thing_name, shadow_name)"
                        " DO UPDATE SET document = excluded.document",
                        (thing_name, shadow_name, stored.to_json()),
                    )
                    for observer in self.change_observers:
                        observer(db, thing_name, shadow_name)
                if to_outbox:
                    for message_topic, body in outcome["result"].messages:
                        enqueue(db, message_topic, body)
            # committed: this is now the stored shadow
            parsed.shadows[key] = stored if stored is not None else current
            parsed.total_changes = db.total_changes
            return outcome["result"]
        except engine.ShadowError as err:
            return self.rejected(topic, err, payload, now)
        except ValueError:  # a corrupt stored document: never crash the service on it
            return self.rejected(topic, engine.ShadowError.internal(), payload, now)

    @staticmethod
    def rejected(
        topic: str, err: engine.ShadowError, payload: bytes, now: int | None = None
    ) -> ShadowOutcome:
        body = engine.error_document(
            err, engine.client_token_of(payload), int(time.time()) if now is None else now
        )
        return ShadowOutcome(messages=[(f"{topic}/rejected", body)], error=err)

    @staticmethod
    def _apply(
        operation: str, topic: str, current: engine.Shadow | None, payload: bytes, now: int
    ) -> dict[str, Any]:
        if operation == "update":
            result = engine.update(current, payload, now)
            messages = [(f"{topic}/accepted", result.accepted)]
            if result.delta is not None:
                messages.append((f"{topic}/delta", result.delta))
            messages.append((f"{topic}/documents", result.documents))
            return {
                "shadow": result.shadow,
                "result": ShadowOutcome(messages, accepted=result.accepted),
            }
        if operation == "get":
            body = engine.get(current, payload, now)
            return {"result": ShadowOutcome([(f"{topic}/accepted", body)], accepted=body)}
        tombstone, body = engine.delete(current, payload, now)
        return {
            "shadow": tombstone,
            "result": ShadowOutcome([(f"{topic}/accepted", body)], accepted=body),
        }


# Every code of the guide's shadow error tables (spec-shadow-jobs §1.9) with its REST exception.
# 401, 403 and 503 are never produced here (decision S-25) but map all the same; 422 has no REST
# exception in the guide and is never produced either.
_REST_ERRORS: dict[int, type[CloudError]] = {
    400: InvalidRequestException,
    401: UnauthorizedException,
    403: ForbiddenException,
    404: ResourceNotFoundException,
    409: ConflictException,
    413: RequestEntityTooLargeException,
    415: UnsupportedDocumentEncodingException,
    429: ThrottlingException,
    500: InternalFailureException,
    503: ServiceUnavailableException,
}


def rest_error(err: engine.ShadowError) -> CloudError:
    """The REST API's exception for an engine error (spec-shadow-jobs §1.9 tables)."""
    return _REST_ERRORS.get(err.code, InternalFailureException)(err.message)


def index_shadows(db: sqlite3.Connection, thing_name: str | None = None) -> dict[str, Any]:
    """The classic shadows as fleet indexing sees them (rig/cloud/indexing): thing name →
    {desired, reported, delta, metadata, hasDelta, version}; deleted shadows left out. One
    thing's, or every thing's with `thing_name` None."""
    if thing_name is None:
        rows = db.execute("SELECT thing_name, document FROM shadows WHERE shadow_name = ''")
    else:
        rows = db.execute(
            "SELECT thing_name, document FROM shadows WHERE shadow_name = '' AND thing_name = ?",
            (thing_name,),
        )
    documents: dict[str, Any] = {}
    for row in rows:
        try:  # not Shadow.from_json: its checks cost more than the rest of a search
            stored = jsoncodec.loads(row["document"].encode())
            if stored["deleted_at"] is not None:
                continue
            shadow = engine.Shadow(stored["state"], stored["metadata"], stored["version"])
            delta, _ = engine.delta_of(shadow)
        except (ValueError, KeyError, TypeError, AttributeError):
            continue  # a corrupt stored document is not indexed
        document: dict[str, Any] = dict(shadow.state)
        if delta:
            document["delta"] = delta
        document |= {"metadata": shadow.metadata, "hasDelta": bool(delta)}
        document["version"] = shadow.version
        documents[row["thing_name"]] = document
    return documents
