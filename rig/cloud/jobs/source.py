"""CreateJob's `documentSource`: the job document fetched when the job is created.

AWS takes only an S3 URL ("must be a valid Amazon S3 URL ... https://s3.amazonaws.com/bucketName/
objectName", CreateJob in the API reference) and reads it then ("Job documents that are
specified as Amazon S3 files are retrieved at the time you create the job", developer guide
"Jobs"). The rig has no S3: ours takes an `https://` URL, verified against the cloud's own CA (so
in practice the rig's file server, rig/cloud/files/server.py, serving `<home>/files/`), or a
local `file://` path (docs/cloud-decisions.md "Jobs", J-18). The document must be UTF-8 JSON
(the API reference) and, as an inline one, a JSON object of at most 32 KB (J-11).
"""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from pathlib import Path

from rig.cloud.core.errors import InvalidRequestException
from rig.cloud.jobs.shapes import MAX_DOCUMENT_BYTES, parse_document

MAX_SOURCE_CHARS = 1350  # Jobs Limits: "The maximum job document source size is 1350 characters"
SUPPORTED = "https:// (the rig's file server, <home>/files/) or file:// (a local file)"
FETCH_TIMEOUT_S = 10.0


def fetch_document(source: object, ca_file: Path) -> str:
    """The document `source` names, checked as an inline document is; InvalidRequestException
    saying why when it cannot be had."""
    if not isinstance(source, str) or not 1 <= len(source) <= MAX_SOURCE_CHARS:
        raise InvalidRequestException(
            f"documentSource must be a URL of 1-{MAX_SOURCE_CHARS} characters"
        )
    if source.startswith("https://"):
        data = _fetch_https(source, ca_file)
    elif source.startswith("file://"):
        data = _read_file(source)
    else:
        raise InvalidRequestException(
            f"documentSource {source!r}: unsupported scheme; the rig takes {SUPPORTED}"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequestException(
            f"documentSource {source}: the document must be UTF-8 encoded JSON ({exc.reason}"
            f" at byte {exc.start})"
        ) from exc
    try:
        return parse_document(text)
    except InvalidRequestException as exc:
        raise InvalidRequestException(f"documentSource {source}: {exc.message}") from exc


def _read_file(source: str) -> bytes:
    path = Path(source[len("file://") :]).expanduser()  # aws-cli's file:// form: relative too
    try:
        with path.open("rb") as document:
            return document.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as exc:
        raise InvalidRequestException(
            f"documentSource {source}: cannot read {path}: {exc.strerror}"
        ) from exc
    except ValueError as exc:  # a NUL in the path
        raise InvalidRequestException(f"documentSource {source!r}: {exc}") from exc


def _fetch_https(source: str, ca_file: Path) -> bytes:
    context = ssl.create_default_context(cafile=str(ca_file))
    try:
        with urllib.request.urlopen(source, timeout=FETCH_TIMEOUT_S, context=context) as reply:
            return bytes(reply.read(MAX_DOCUMENT_BYTES + 1))
    except urllib.error.HTTPError as exc:
        raise InvalidRequestException(
            f"documentSource {source}: the file server answered {exc.code} {exc.reason}"
        ) from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise InvalidRequestException(
            f"documentSource {source}: cannot fetch it ({reason}); the rig serves"
            " <home>/files/ while `buttonrig cloud up` runs, over TLS signed by the cloud's CA"
        ) from exc
