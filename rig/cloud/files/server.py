"""The rig's HTTPS file server: what a job's `url` (and `create-job --document-source`) points
at, standing in for the S3 bucket of the AWS IoT Developer Guide's OTA examples.

It serves only regular files under `<home>/files/` (`FILES_DIR`), over TLS with the broker's
server certificate (signed by the cloud's own CA, for `localhost` and `127.0.0.1`), on
`127.0.0.1` and the port remembered in `<home>/cloud/files-port` (kept across restarts, as the
broker's: job documents name it). GET and HEAD; one byte range per request (`Range: bytes=a-b`,
`a-`, `-n`: 206 with `Content-Range`, so a device can resume a download; 416 when it lies past
the end), as S3 ("Amazon S3 doesn't support retrieving multiple ranges of data per GET request",
S3 API reference GetObject `Range`): ours, several ranges get the whole file (RFC 9110 lets a
server ignore Range); a path with `.`, `..` or empty segments, a NUL or a backslash, before or after
percent-decoding, is 400; a file missing, not regular, or outside the directory once symlinks are
resolved is 404. The TLS handshake runs on the request's own thread, so a client that stalls
there holds up nobody else.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import ssl
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

from rig.cloud.core.endpoint import read_port, write_port

log = logging.getLogger(__name__)

FILES_DIR = "files"
PORT_FILE = "cloud/files-port"
HOST = "127.0.0.1"
URL_HOST = "localhost"  # a name the server certificate carries (rig/broker.py SERVER_HOSTNAMES)
CHUNK = 64 * 1024
REQUEST_TIMEOUT_S = 30.0
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class FilesPortTaken(OSError):
    """The home's remembered file-server port is used by another program."""


def files_dir(home: Path) -> Path:
    return home / FILES_DIR


def port_file(home: Path) -> Path:
    return home / PORT_FILE


def remembered_port(home: Path) -> int | None:
    return read_port(port_file(home))


def remember_port(home: Path, port: int) -> None:
    write_port(port_file(home), port)


def home_port(home: Path) -> int:
    """The home's file-server port: the remembered one, or a free one now remembered (so a
    bundle made before the first `cloud up` names the port that cloud will listen on)."""
    port = remembered_port(home)
    if port is None:
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            port = probe.getsockname()[1]
        remember_port(home, port)
    return port


def url_of(port: int, name: str) -> str:
    return f"https://{URL_HOST}:{port}/{name}"


class BadPath(ValueError):
    """A request path that can only be a traversal attempt or garbage: 400."""


def _segments(raw_path: str) -> list[str]:
    """The decoded path segments of a request target, or BadPath."""
    path = raw_path.split("?", 1)[0].split("#", 1)[0]  # not urlsplit: "//x" is no netloc here
    if not path.startswith("/"):
        raise BadPath(raw_path)
    decoded = unquote(path, errors="strict")
    for text in (path, decoded):  # checked twice: `%2e%2e`, `%2f`, `%00` do not slip through
        if "\\" in text or "\x00" in text:
            raise BadPath(raw_path)
        segments = text[1:].split("/")
        if any(segment in ("", ".", "..") for segment in segments):
            raise BadPath(raw_path)
    return decoded[1:].split("/")


def resolve(root: Path, raw_path: str) -> Path | None:
    """The regular file under `root` a request names, None when there is none (missing, a
    directory, or a symlink leading out of `root`); BadPath for a malformed path."""
    try:
        segments = _segments(raw_path)
    except UnicodeDecodeError as exc:
        raise BadPath(raw_path) from exc
    real_root = root.resolve()
    target = real_root.joinpath(*segments).resolve()
    if not target.is_relative_to(real_root) or not target.is_file():
        return None
    return target


class Unsatisfiable(ValueError):
    """A range that starts past the end of the file: 416."""


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) of a single satisfiable range; None to send the whole file (no header, or
    one we ignore as RFC 9110 allows: several ranges, bad syntax); Unsatisfiable for 416."""
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        length = int(last)
        if length == 0:
            raise Unsatisfiable(header)
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if last and int(last) < start:
        return None  # invalid: ignored
    if start >= size:
        raise Unsatisfiable(header)
    return start, end


class _Handler(BaseHTTPRequestHandler):
    server_version = "buttonrig-files"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = REQUEST_TIMEOUT_S

    def do_GET(self) -> None:
        self._send(body=True)

    def do_HEAD(self) -> None:
        self._send(body=False)

    def _send(self, body: bool) -> None:
        try:
            assert isinstance(self.server, _TlsFileServer)
            target = resolve(self.server.root, self.path)
        except BadPath:
            self._error(HTTPStatus.BAD_REQUEST)
            return
        if target is None:
            self._error(HTTPStatus.NOT_FOUND)
            return
        try:
            data = target.open("rb")
        except OSError:  # unreadable for us, or gone since it was resolved
            self._error(HTTPStatus.NOT_FOUND)
            return
        with data:
            size = os.fstat(data.fileno()).st_size
            try:
                wanted = byte_range(self.headers.get("Range"), size)
            except Unsatisfiable:
                self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if wanted is not None:
                first, last = wanted
                self.send_response(HTTPStatus.PARTIAL_CONTENT)
                self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
            else:
                first, last = 0, size - 1
                self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(last - first + 1))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if body:
                data.seek(first)
                self._copy(data, last - first + 1)

    def _copy(self, data: BinaryIO, length: int) -> None:
        remaining = length
        while remaining > 0:
            chunk = data.read(min(CHUNK, remaining))
            if not chunk:
                break
            self.wfile.write(chunk)
            remaining -= len(chunk)

    def _error(self, status: HTTPStatus) -> None:
        message = f"{status.value} {status.phrase}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(message)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(message)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class _TlsFileServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], root: Path, context: ssl.SSLContext) -> None:
        self.root = root
        self.context = context
        super().__init__(address, _Handler)

    def finish_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        request.settimeout(REQUEST_TIMEOUT_S)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError) as exc:  # e.g. a client that does not trust our CA
            log.debug("TLS handshake with %s failed: %s", client_address, exc)
            return
        try:
            super().finish_request(tls, client_address)  # type: ignore[arg-type]
        finally:
            tls.close()

    def handle_error(self, request: object, client_address: object) -> None:  # noqa: ARG002
        log.debug("request from %s failed", client_address, exc_info=True)


class FileServer:
    """`start()` listens on the home's port and serves in a thread; `stop()` ends it."""

    def __init__(self, home: Path, certificate_file: Path, key_file: Path) -> None:
        self.home = home
        self.root = files_dir(home)
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._context.load_cert_chain(certificate_file, key_file)
        self._server: _TlsFileServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.server_address[1])

    def start(self) -> int:
        self.root.mkdir(parents=True, exist_ok=True)
        port = home_port(self.home)
        try:
            self._server = _TlsFileServer((HOST, port), self.root, self._context)
        except OSError as exc:
            raise FilesPortTaken(
                f"port {port} on {HOST}, this home's file-server port (job documents name it),"
                f" is in use by another program ({exc.strerror}): stop that program, or delete"
                f" {port_file(self.home)} to take a new port (bundles made here must then be"
                " made again)"
            ) from None
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="ota-files"
        )
        self._thread.daemon = True
        self._thread.start()
        return port

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None
