"""The thing shadow document engine: pure functions of (stored shadow, request bytes, now).

No I/O and no clock: the service passes `now` (epoch seconds) and stores what comes back.
Rules cite spec-shadow-jobs.md Part 1; where the guide is silent the choice is ours and is
recorded in docs/cloud-decisions.md (section "Shadows").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypeGuard

from rig.cloud.core import jsoncodec

MAX_STATE_BYTES = 8 * 1024  # §1.11 "8 KB", desired + reported only (ours: 8192 bytes)
MAX_DEPTH = 6  # §1.9 "maximum is 6", counted inside desired/reported (ours)
MAX_PAYLOAD_BYTES = 128 * 1024  # §1.11 MQTT message size; checked before parsing
MAX_CLIENT_TOKEN_BYTES = 64  # guide silent; today's AWS limit (anchors.md §6)
VERSION_CONTINUITY_S = 48 * 3600  # guide silent; today's AWS keeps the version for 48 h
SECTIONS = ("desired", "reported")


class ShadowError(Exception):
    """A rejected shadow request, with the guide's HTTP code and exact message (§1.9)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message

    @classmethod
    def invalid_json(cls) -> ShadowError:
        return cls(400, "Invalid JSON")

    @classmethod
    def missing_state(cls) -> ShadowError:
        return cls(400, "Missing required node: state")

    @classmethod
    def state_not_object(cls) -> ShadowError:
        return cls(400, "State node must be an object")

    @classmethod
    def section_not_object(cls, section: str) -> ShadowError:
        return cls(400, f"{section.capitalize()} node must be an object")

    @classmethod
    def invalid_version(cls) -> ShadowError:
        return cls(400, "Invalid version")

    @classmethod
    def invalid_client_token(cls) -> ShadowError:
        return cls(400, "Invalid clientToken")

    @classmethod
    def too_deep(cls) -> ShadowError:
        return cls(400, f"JSON contains too many levels of nesting; maximum is {MAX_DEPTH}")

    @classmethod
    def invalid_node(cls) -> ShadowError:
        return cls(400, "State contains an invalid node")

    @classmethod
    def invalid_thing_name(cls) -> ShadowError:
        # The guide's table has no entry for a bad name in the topic; ours (decision S-24).
        return cls(400, "Invalid thing name")

    @classmethod
    def invalid_shadow_name(cls) -> ShadowError:
        return cls(400, "Invalid shadow name")  # ours (decision S-24)

    @classmethod
    def unauthorized(cls) -> ShadowError:
        return cls(401, "Unauthorized")

    @classmethod
    def forbidden(cls) -> ShadowError:
        return cls(403, "Forbidden")

    @classmethod
    def not_found(cls) -> ShadowError:
        return cls(404, "Thing not found")

    @classmethod
    def version_conflict(cls) -> ShadowError:
        return cls(409, "Version conflict")

    @classmethod
    def too_large(cls) -> ShadowError:
        return cls(413, "The payload exceeds the maximum size allowed")

    @classmethod
    def bad_encoding(cls) -> ShadowError:
        return cls(415, "Unsupported documented encoding; supported encoding is UTF-8")

    @classmethod
    def too_many_requests(cls) -> ShadowError:
        # The guide gives the condition (> 10 in flight) but no text; ours.
        return cls(429, "Too Many Requests")

    @classmethod
    def internal(cls) -> ShadowError:
        return cls(500, "Internal service failure")


@dataclass
class Shadow:
    """A stored shadow. `state`/`metadata` hold only `desired`/`reported` (each omitted when empty).

    A deleted shadow is a tombstone (`deleted_at` set, empty state) kept so a re-created shadow
    continues the version within VERSION_CONTINUITY_S.
    """

    state: dict[str, Any]
    metadata: dict[str, Any]
    version: int
    deleted_at: int | None = None

    @property
    def exists(self) -> bool:
        return self.deleted_at is None

    def to_json(self) -> str:
        document = {
            "state": self.state,
            "metadata": self.metadata,
            "version": self.version,
            "deleted_at": self.deleted_at,
        }
        return jsoncodec.dumps(document).decode()

    @classmethod
    def from_json(cls, text: str) -> Shadow:
        """Load a stored shadow; corrupt storage raises ValueError naming the field."""
        data = jsoncodec.loads(text.encode())
        if not isinstance(data, dict):
            raise ValueError("stored shadow: not an object")
        state, metadata = data.get("state"), data.get("metadata")
        version, deleted_at = data.get("version"), data.get("deleted_at")
        if not isinstance(state, dict) or not isinstance(metadata, dict):
            raise ValueError("stored shadow: state and metadata must be objects")
        for name, tree in (("state", state), ("metadata", metadata)):
            if set(tree) - set(SECTIONS) or not all(isinstance(v, dict) for v in tree.values()):
                raise ValueError(f"stored shadow: {name} may hold only desired/reported objects")
        if not _is_int(version) or version < 0:
            raise ValueError("stored shadow: version must be a non-negative integer")
        if deleted_at is not None and not _is_int(deleted_at):
            raise ValueError("stored shadow: deleted_at must be an integer or null")
        return cls(state=state, metadata=metadata, version=version, deleted_at=deleted_at)

    def document(self) -> dict[str, Any]:
        """The full document as /update/documents shows it: state, metadata, version."""
        return {
            "state": _copied(self.state),
            "metadata": _copied(self.metadata),
            "version": self.version,
        }


@dataclass
class UpdateResult:
    """What one accepted update produces: the new shadow and the three reply bodies."""

    shadow: Shadow
    accepted: dict[str, Any]
    delta: dict[str, Any] | None  # body for /update/delta, None when nothing is to be published
    documents: dict[str, Any]


# ---------------------------------------------------------------- request parsing


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


# An independent copy of a JSON tree: the shadow replies and stored shadows need them on every
# request (issue #4).
_copied = jsoncodec.copy


def _parse_object(payload: bytes) -> dict[str, Any]:
    """Decode a request body to a JSON object or raise the guide's 413/415/400."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ShadowError.too_large()
    try:
        document = jsoncodec.loads(payload)
    except UnicodeDecodeError:
        raise ShadowError.bad_encoding() from None
    except RecursionError:
        raise ShadowError.too_deep() from None
    except ValueError:  # NaN, Infinity and numbers beyond a double included (ours)
        raise ShadowError.invalid_json() from None
    if not isinstance(document, dict):
        raise ShadowError.invalid_json()  # ours: a JSON array/scalar is not a request document
    if not _may_not_encode(payload):
        return document
    try:  # "\ud800" parses but is no Unicode text: it could not be stored or sent (ours: 400)
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ShadowError.invalid_json() from None
    except RecursionError:
        raise ShadowError.too_deep() from None
    return document


def _may_not_encode(payload: bytes) -> bool:
    """Whether the parsed `payload` could fail to serialise again. Valid UTF-8 holds no lone
    surrogate, so one can only come from a \\u escape; and a document that parsed can only be
    too deep to serialise when it is nested deeply (counted generously: every bracket)."""
    return b"\\u" in payload or payload.count(b"{") + payload.count(b"[") > 100


def _valid_client_token(token: object) -> bool:
    return isinstance(token, str) and 0 < len(token.encode("utf-8")) <= MAX_CLIENT_TOKEN_BYTES


def client_token_of(payload: bytes) -> str | None:
    """The request's clientToken when it is valid JSON with a valid token, else None."""
    try:
        document = _parse_object(payload)
    except ShadowError:
        return None
    token = document.get("clientToken")
    return token if _valid_client_token(token) and isinstance(token, str) else None


def _client_token(document: dict[str, Any]) -> str | None:
    if "clientToken" not in document:
        return None
    token = document["clientToken"]
    if not _valid_client_token(token) or not isinstance(token, str):
        raise ShadowError.invalid_client_token()
    return token


def _requested_version(document: dict[str, Any]) -> int | None:
    if "version" not in document or document["version"] is None:
        return None
    version = document["version"]
    if not _is_int(version) or version < 0:
        raise ShadowError.invalid_version()
    return version


def _depth(value: object) -> int:
    """Levels of containers: scalar 0, {"a": 1} 1. Iterative: inputs may be deep."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        node, level = stack.pop()
        children: list[Any]
        if isinstance(node, dict):
            children = list(node.values())
        elif isinstance(node, list):
            children = list(node)
        else:
            continue
        deepest = max(deepest, level + 1)
        stack.extend((child, level + 1) for child in children)
    return deepest


def _contains_null_in_array(value: object, inside_array: bool = False) -> bool:
    if value is None:
        return inside_array
    if isinstance(value, dict):
        return any(_contains_null_in_array(v, inside_array) for v in value.values())
    if isinstance(value, list):
        return any(_contains_null_in_array(v, True) for v in value)
    return False


def _validated_state(document: dict[str, Any]) -> dict[str, Any] | None:
    """The request's `state` (None for `"state": null`), validated per §1.4 item 10."""
    if "state" not in document:
        raise ShadowError.missing_state()
    state = document["state"]
    if state is None:
        return None
    if not isinstance(state, dict):
        raise ShadowError.state_not_object()
    if any(key not in SECTIONS for key in state):
        raise ShadowError.invalid_node()
    for section in SECTIONS:
        if section not in state or state[section] is None:
            continue
        if not isinstance(state[section], dict):
            raise ShadowError.section_not_object(section)
        if _depth(state[section]) > MAX_DEPTH:
            raise ShadowError.too_deep()
        if _contains_null_in_array(state[section]):
            raise ShadowError.invalid_node()  # §1.4 item 7: code/message guide silent; ours
    return state


# ---------------------------------------------------------------- merge, metadata, delta


def _merged(
    target: dict[str, Any], meta: dict[str, Any], patch: dict[str, Any], now: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(state, metadata) of `target`/`meta` with `patch` applied; only written leaves get a new
    timestamp. The inputs are not modified: new dicts are built along the patched paths and
    untouched subtrees are shared, so an update need not copy the whole stored shadow.

    null deletes; arrays and scalars replace; objects merge; objects left empty are removed.
    """
    target, meta = dict(target), dict(meta)
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
            meta.pop(key, None)
        elif isinstance(value, dict):
            sub_target, sub_meta = target.get(key), meta.get(key)
            if not isinstance(sub_target, dict) or not isinstance(sub_meta, dict):
                sub_target, sub_meta = {}, {}
            sub_target, sub_meta = _merged(sub_target, sub_meta, value, now)
            if sub_target:
                target[key], meta[key] = sub_target, sub_meta
            else:
                target.pop(key, None)
                meta.pop(key, None)
        else:
            target[key] = value  # from this request's own parsed document: nobody else holds it
            meta[key] = {"timestamp": now}
    return target, meta


def _echo_metadata(patch: dict[str, Any], now: int) -> dict[str, Any]:
    """Metadata of a request fragment: every leaf (null included) stamped `now` (§1.4 item 12)."""
    return {
        key: _echo_metadata(value, now) if isinstance(value, dict) else {"timestamp": now}
        for key, value in patch.items()
    }


def _delta(desired: dict[str, Any], reported: dict[str, Any]) -> dict[str, Any]:
    """§1.6: desired fields that reported lacks or holds differently; objects recurse.
    Leaves are shared with `desired`, not copied: see delta_of."""
    out: dict[str, Any] = {}
    for key, wanted in desired.items():
        if key not in reported:
            out[key] = wanted
        elif isinstance(wanted, dict) and isinstance(reported[key], dict):
            sub = _delta(wanted, reported[key])
            if sub:
                out[key] = sub
        elif not _same_value(wanted, reported[key]):
            out[key] = wanted
    return out


def _same_value(a: object, b: object) -> bool:
    """JSON equality: bool is not a number; 1 and 1.0 are equal (ours)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in a)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def _pick_metadata(delta: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """The desired metadata for exactly the paths present in `delta` (walks the state shape)."""
    out: dict[str, Any] = {}
    for key, value in delta.items():
        node = meta.get(key, {})
        if isinstance(value, dict) and isinstance(node, dict):
            out[key] = _pick_metadata(value, node)
        else:
            out[key] = _copied(node)
    return out


def _state_bytes(state: dict[str, Any]) -> int:
    return sum(len(jsoncodec.dumps(state[s])) for s in SECTIONS if s in state)


def _section(container: dict[str, Any], name: str) -> dict[str, Any]:
    value = container.get(name)
    return value if isinstance(value, dict) else {}


def delta_of(shadow: Shadow) -> tuple[dict[str, Any], dict[str, Any]]:
    """(delta state, delta metadata) of a stored shadow, both independent of it."""
    delta = _delta(_section(shadow.state, "desired"), _section(shadow.state, "reported"))
    return _copied(delta), _pick_metadata(delta, _section(shadow.metadata, "desired"))


# ---------------------------------------------------------------- operations


def _base_version(shadow: Shadow | None, now: int) -> int:
    """The version a new update follows: the live one, or a recent tombstone's (ours)."""
    if shadow is None:
        return 0
    if shadow.deleted_at is None or now - shadow.deleted_at < VERSION_CONTINUITY_S:
        return shadow.version
    return 0


def update(shadow: Shadow | None, payload: bytes, now: int) -> UpdateResult:
    """Apply an /update request. Raises ShadowError; the stored shadow is never modified."""
    document = _parse_object(payload)
    token = _client_token(document)
    requested = _requested_version(document)
    state = _validated_state(document)
    current = shadow if shadow is not None and shadow.exists else None
    base = _base_version(shadow, now)
    if requested is not None and requested != base:
        raise ShadowError.version_conflict()

    # The new shadow shares untouched subtrees with the stored one (neither is ever modified).
    new_state: dict[str, Any] = {}
    new_meta: dict[str, Any] = {}
    if current is not None and state is not None:
        new_state, new_meta = dict(current.state), dict(current.metadata)
    for section in SECTIONS:
        if state is None or section not in state:
            continue
        if state[section] is None:
            new_state.pop(section, None)
            new_meta.pop(section, None)
            continue
        target, meta = _merged(
            new_state.get(section, {}), new_meta.get(section, {}), state[section], now
        )
        if target:
            new_state[section], new_meta[section] = target, meta
        else:
            new_state.pop(section, None)
            new_meta.pop(section, None)
    if _state_bytes(new_state) > MAX_STATE_BYTES:
        raise ShadowError.too_large()

    after = Shadow(state=new_state, metadata=new_meta, version=base + 1)
    accepted: dict[str, Any] = {
        "state": _copied(state),  # the new shadow shares this request's leaves
        "metadata": _echo_metadata(state, now) if state is not None else {"timestamp": now},
        "version": after.version,
        "timestamp": now,
    }
    if token is not None:
        accepted["clientToken"] = token
    documents = {
        "previous": current.document() if current else None,
        "current": after.document(),
        "timestamp": now,
    }
    return UpdateResult(
        shadow=after,
        accepted=accepted,
        delta=_delta_message(current, after, state, now),
        documents=documents,
    )


def _delta_message(
    before: Shadow | None, after: Shadow, state: dict[str, Any] | None, now: int
) -> dict[str, Any] | None:
    """Publish a delta when one exists and this request wrote desired or changed it (ours, §3.1.3)."""
    delta, delta_meta = delta_of(after)
    if not delta:
        return None
    wrote_desired = state is not None and isinstance(state.get("desired"), dict)
    if not wrote_desired and before is not None and delta_of(before)[0] == delta:
        return None
    return {"version": after.version, "timestamp": now, "state": delta, "metadata": delta_meta}


def _token_of_ignored_body(payload: bytes) -> str | None:
    # get/delete bodies are ignored ("The content of the message is ignored."), except that a
    # valid clientToken is echoed (ours).
    return client_token_of(payload)


def get(shadow: Shadow | None, payload: bytes, now: int) -> dict[str, Any]:
    """The /get/accepted body: full document plus delta. Raises ShadowError 404."""
    if shadow is None or not shadow.exists:
        raise ShadowError.not_found()
    state, metadata = _copied(shadow.state), _copied(shadow.metadata)
    delta, delta_meta = delta_of(shadow)
    if delta:
        state["delta"], metadata["delta"] = delta, delta_meta
    reply: dict[str, Any] = {
        "state": state,
        "metadata": metadata,
        "version": shadow.version,
        "timestamp": now,
    }
    token = _token_of_ignored_body(payload)
    if token is not None:
        reply["clientToken"] = token
    return reply


def delete(shadow: Shadow | None, payload: bytes, now: int) -> tuple[Shadow, dict[str, Any]]:
    """(tombstone, /delete/accepted body). The body reports the deleted version (ours)."""
    if shadow is None or not shadow.exists:
        raise ShadowError.not_found()
    tombstone = Shadow(state={}, metadata={}, version=shadow.version, deleted_at=now)
    reply: dict[str, Any] = {"version": shadow.version, "timestamp": now}
    token = _token_of_ignored_body(payload)
    if token is not None:
        reply["clientToken"] = token
    return tombstone, reply


def error_document(err: ShadowError, client_token: str | None, now: int) -> dict[str, Any]:
    """The §1.9 error response document."""
    body: dict[str, Any] = {"code": err.code, "message": err.message, "timestamp": now}
    if client_token is not None:
        body["clientToken"] = client_token
    return body
