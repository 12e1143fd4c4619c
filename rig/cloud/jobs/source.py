"""CreateJob's `documentSource`: the job document fetched when the job is created.

AWS takes only an S3 URL ("must be a valid Amazon S3 URL ... https://s3.amazonaws.com/bucketName/
objectName", CreateJob in the API reference) and reads it then ("Job documents that are
specified as Amazon S3 files are retrieved at the time you create the job", developer guide
"Jobs"). Ours (docs/cloud-decisions.md "Jobs", J-18): an Amazon S3 URL is read from the rig's
S3 (rig/cloud/objects, started by `buttonrig cloud up`) by bucket and key; any other `https://`
URL is fetched verified against the cloud's own CA (so in practice the rig's file server,
rig/cloud/files/server.py, serving `<home>/files/`); a `file://` path is read locally. The
document must be UTF-8 JSON (the API reference) and, as an inline one, a JSON object of at most
32 KB (J-11).
"""

from __future__ import annotations

import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from rig.cloud.core.errors import CloudError, InvalidRequestException
from rig.cloud.core.objects import ObjectSource
from rig.cloud.jobs.shapes import MAX_DOCUMENT_BYTES, parse_document

MAX_SOURCE_CHARS = 1350  # Jobs Limits: "The maximum job document source size is 1350 characters"
SUPPORTED = (
    "https://s3.amazonaws.com/<bucket>/<key> (the rig's S3), https:// (the rig's file server,"
    " <home>/files/) or file:// (a local file)"
)
FETCH_TIMEOUT_S = 10.0
# Amazon S3 URLs (S3 User Guide "Methods for accessing a bucket"): path style on the global or a
# regional endpoint (https://s3.amazonaws.com/bucket/key, the API reference's example and the
# workshop's), or virtual-hosted style (https://bucket.s3[.region].amazonaws.com/key)
_S3_PATH_STYLE = re.compile(r"^s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com$")
_S3_VIRTUAL_HOSTED = re.compile(
    r"^(?P<bucket>[a-z0-9][a-z0-9.-]*)\.s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com$"
)


def s3_location(source: str) -> tuple[str, str] | None:
    """(bucket, key) of an Amazon S3 `https://` URL, or None for any other URL."""
    parts = urllib.parse.urlsplit(source)
    if parts.scheme != "https" or parts.query or parts.fragment:
        return None
    host = (parts.hostname or "").lower()
    path = urllib.parse.unquote(parts.path)
    if _S3_PATH_STYLE.match(host):
        bucket, _, key = path.lstrip("/").partition("/")
    elif (hosted := _S3_VIRTUAL_HOSTED.match(host)) is not None:
        bucket, key = hosted.group("bucket"), path.lstrip("/")
    else:
        return None
    if not bucket or not key:
        raise InvalidRequestException(
            f"documentSource {source}: an S3 URL names a bucket and an object key"
        )
    return bucket, key


def fetch_document(source: object, ca_file: Path, objects: ObjectSource | None = None) -> str:
    """The document `source` names, checked as an inline document is; InvalidRequestException
    saying why when it cannot be had."""
    if not isinstance(source, str) or not 1 <= len(source) <= MAX_SOURCE_CHARS:
        raise InvalidRequestException(
            f"documentSource must be a URL of 1-{MAX_SOURCE_CHARS} characters"
        )
    location = s3_location(source)
    if location is not None:
        data = _read_s3(source, location, objects)
    elif source.startswith("https://"):
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


def _read_s3(source: str, location: tuple[str, str], objects: ObjectSource | None) -> bytes:
    """ "Job documents that are specified as Amazon S3 files are retrieved at the time you create
    the job": from the rig's S3, which runs while `buttonrig cloud up` does."""
    from botocore.exceptions import BotoCoreError, ClientError  # the CLI starts without boto

    if objects is None:
        raise InvalidRequestException(f"documentSource {source}: this cloud has no S3")
    bucket, key = location
    try:
        data = objects.read(bucket, key)
    except CloudError as exc:  # no S3 runs for the home
        raise InvalidRequestException(f"documentSource {source}: {exc.message}") from exc
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise InvalidRequestException(
            f"documentSource {source}: S3 answered {error.get('Code', '?')}"
            f" ({error.get('Message', 'no message')}) for s3://{bucket}/{key}"
        ) from exc
    except BotoCoreError as exc:
        raise InvalidRequestException(f"documentSource {source}: S3: {exc}") from exc
    return data[: MAX_DOCUMENT_BYTES + 1]


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
