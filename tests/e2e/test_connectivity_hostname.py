"""The board checks the broker's certificate *and* its host name (CERT_REQUIRED + server_hostname).

An impostor TLS server on the configured endpoint presents a certificate signed by the very CA
the board trusts: first for another host name (the board must refuse it before sending anything),
then for `localhost` (the board completes the handshake and sends its MQTT CONNECT). Only the
name differs, so the refusal is the host-name check.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from connectivity_kit import WAIT_S, assert_no_leaks, connected, run_logs

from rig.cloud.certificates.ca import CertificateAuthority
from rig.cloud.clicks.store import ClickLog
from rig.cloud.runtime import CloudRuntime
from rig.pytest_plugin.boards import BoardFactory
from rig.strategies.provisioning import endpoint_text, reconfigure

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


class Impostor:
    """A TLS server on a loopback port that records what clients send after the handshake."""

    def __init__(self, ca: CertificateAuthority, directory: Path) -> None:
        self.ca = ca
        self.directory = directory
        self.handshakes = 0
        self.failed_handshakes = 0
        self.received: list[bytes] = []
        self._lock = threading.Condition()
        self._ctx = self._context("wrong.example")
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _context(self, hostname: str) -> ssl.SSLContext:
        issued = self.ca.issue_server_certificate([hostname])
        assert issued.private_key_pem is not None
        cert = self.directory / f"{hostname}.crt"
        key = self.directory / f"{hostname}.key"
        cert.write_text(issued.certificate_pem)
        key.write_text(issued.private_key_pem)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        return ctx

    def present(self, hostname: str) -> None:
        self._ctx = self._context(hostname)

    def _serve(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(WAIT_S)
        with contextlib.closing(conn):
            try:
                tls = self._ctx.wrap_socket(conn, server_side=True)
            except (OSError, ssl.SSLError):
                with self._lock:
                    self.failed_handshakes += 1
                    self._lock.notify_all()
                return
            with contextlib.closing(tls):
                with self._lock:
                    self.handshakes += 1
                try:
                    data = tls.recv(64)
                except (OSError, ssl.SSLError):
                    data = b""
                with self._lock:
                    self.received.append(data)
                    self._lock.notify_all()

    def wait(self, what: str, done: Callable[[], bool], timeout: float = WAIT_S) -> None:
        with self._lock:
            if not self._lock.wait_for(done, timeout):
                raise AssertionError(
                    f"impostor: {what} not seen; handshakes {self.handshakes}, failed "
                    f"{self.failed_handshakes}, received {self.received}"
                )

    def close(self) -> None:
        self._closed = True
        self._server.close()


def test_a_broker_certificate_for_another_host_name_is_refused(
    boards: BoardFactory, cloud_runtime: CloudRuntime
) -> None:
    board, setup = connected(boards, cloud_runtime)
    assert cloud_runtime.endpoint is not None
    with tempfile.TemporaryDirectory() as tmp:
        impostor = Impostor(cloud_runtime.cloud.ca, Path(tmp))
        try:
            reconfigure(board, {"endpoint": f"localhost:{impostor.port}"})
            down = board.expect("mqtt", WAIT_S, state="down")
            assert down["kind"] == "tls", down
            board.expect("led", WAIT_S, pattern="err_tls")
            impostor.wait("a refused handshake", lambda: impostor.failed_handshakes >= 1)
            assert impostor.received == [], "the board talked to a server with the wrong name"

            impostor.present("localhost")  # same CA, the right name
            impostor.wait("an MQTT CONNECT", lambda: bool(impostor.received))
            assert impostor.received[0][:1] == b"\x10", impostor.received  # CONNECT packet
        finally:
            impostor.close()
    reconfigure(board, {"endpoint": endpoint_text(cloud_runtime.endpoint)})
    board.expect("mqtt", WAIT_S, state="up")
    ids = [c["id"] for c in board.events("click")]  # the two 6 s holds
    ClickLog(cloud_runtime.cloud.store).wait_for_ids(setup.serial, ids, WAIT_S)
    assert_no_leaks(setup.secrets, board.console_text(), *run_logs(cloud_runtime, board))
