"""The AWS HTTP APIs' server: plain HTTP/1.1 (keep-alive, as botocore's connection pool uses it)
on 127.0.0.1 and the port remembered in `<home>/cloud/api-port`, kept across restarts of one
home as the broker's and the file server's are, so a script's `--endpoint-url` stays valid.
Plain HTTP, not TLS: loopback only, and boto3 and aws-cli then need no CA bundle
(docs/cloud-decisions.md H-1).
"""

from __future__ import annotations

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from rig.cloud.api import Cloud
from rig.cloud.core.endpoint import read_port, write_port
from rig.cloud.http import codec, dispatch

log = logging.getLogger(__name__)

PORT_FILE = "cloud/api-port"
HOST = "127.0.0.1"
REQUEST_TIMEOUT_S = 30.0
MAX_BODY = (
    1024 * 1024
)  # above any AWS IoT request (a policy 2 KB, a shadow 8 KB, a message 128 KB)


class ApiPortTaken(OSError):
    """The home's remembered API port is used by another program."""


def port_file(home: Path) -> Path:
    return home / PORT_FILE


def url_of(port: int) -> str:
    return f"http://{HOST}:{port}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a boto3 client reuses its connection
    server_version = "buttonrig-aws-api"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._reply(
                codec.encode_error(
                    "RequestEntityTooLargeException", 413, f"request body over {MAX_BODY} bytes"
                ),
                close=True,
            )
            return
        body = self.rfile.read(length) if length else b""
        target = urlsplit(self.path)
        request = dispatch.Request(
            self.command,
            target.path,
            parse_qs(target.query, keep_blank_values=True),
            self.headers,
            body,
        )
        server: Any = self.server
        self._reply(dispatch.handle(server.cloud, request))

    def _reply(self, reply: codec.Reply, close: bool = False) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class _ApiHttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], cloud: Cloud) -> None:
        self.cloud = cloud
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def finish_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        request.settimeout(REQUEST_TIMEOUT_S)
        # headers and body leave in two writes: without this, Nagle's algorithm holds the body
        # until the client's delayed ACK (40 ms a call)
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._open_lock:
            self._open.add(request)
        try:
            super().finish_request(request, client_address)  # type: ignore[arg-type]
        finally:
            with self._open_lock:
                self._open.discard(request)

    def end_connections(self) -> None:
        """End the kept-alive connections too: no request reaches a stopped cloud."""
        with self._open_lock:
            for connection in self._open:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed by the client

    def handle_error(self, request: object, client_address: object) -> None:  # noqa: ARG002
        log.debug("request from %s failed", client_address, exc_info=True)


class ApiServer:
    """`start()` listens on the home's port and serves in a thread; `stop()` ends it."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self._server: _ApiHttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return url_of(self.port)

    def start(self) -> int:
        remembered = read_port(port_file(self.cloud.home))
        try:
            self._server = _ApiHttpServer((HOST, remembered or 0), self.cloud)
        except OSError as exc:
            raise ApiPortTaken(
                f"port {remembered} on {HOST}, this home's AWS API port, is in use by another"
                f" program ({exc.strerror}): stop that program, or delete"
                f" {port_file(self.cloud.home)} to take a new port"
            ) from None
        write_port(port_file(self.cloud.home), self.port)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="aws-api"
        )
        self._thread.daemon = True
        self._thread.start()
        return self.port

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server.end_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None
