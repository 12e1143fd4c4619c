"""firmware/mqtt.py on the unix port: which failing TLS handshakes are `forbidden` and which `tls`.

The signal (fault.from_tls): mbedTLS's verify callback has seen the broker's own certificate and
the handshake then ends in an abort (EPIPE, ECONNRESET, EOF, the broker's alert): the broker
refused our certificate -> forbidden. Our own refusal of the broker's certificate, or an abort
before any broker certificate arrived (not a TLS server), stays tls.

A real mosquitto with mutual TLS and a CRL refuses a revoked client certificate and one from an
unknown CA; raw TCP servers play a port that resets, hangs up or speaks plain MQTT.

The firmware runs with the emulated board's `socket` and `errno` shims (boards/emulated/shims), as
on an ESP32: newlib errno numbers, and select.poll reporting an error only when asked for it.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from host.paths import FIRMWARE_DIR, SHIMS_DIR
from rig.broker import find_mosquitto, free_port
from rig.cloud.certificates.ca import CertificateAuthority, serial_of
from rig.unix_port.process import run_mp

WAIT_S = 30.0
ESP32_PATH = (FIRMWARE_DIR, SHIMS_DIR)  # the firmware sees the ESP32's socket, select and errno


@dataclass(frozen=True)
class Scene:
    dir: Path
    tls_port: int  # mosquitto, mutual TLS, CRL
    plain_port: int  # mosquitto without TLS


def _write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    path.chmod(0o644)
    return path


def _serve_raw(behave: Callable[[socket.socket], None]) -> int:
    """A loopback TCP server that treats each connection with `behave`; its port."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with contextlib.suppress(OSError), conn:
                behave(conn)

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1]


def _reset_after_hello(conn: socket.socket) -> None:
    conn.recv(4096)  # (resetting at once may beat the connect: that is `connect`, not tls)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _hang_up_after_hello(conn: socket.socket) -> None:
    conn.recv(4096)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    root = tmp_path_factory.mktemp("refusals")
    root.chmod(0o755)
    ca = CertificateAuthority(root / "ca")
    stranger_ca = CertificateAuthority(root / "stranger-ca")
    server = ca.issue_server_certificate(["localhost"])
    assert server.private_key_pem is not None
    identities = {
        "good": ca.issue_client_certificate("thing-good"),
        "revoked": ca.issue_client_certificate("thing-revoked"),
        "stranger": stranger_ca.issue_client_certificate("thing-stranger"),
    }
    for name, issued in identities.items():
        assert issued.private_key_der is not None
        _write(root / f"{name}.der", issued.certificate_der)
        _write(root / f"{name}.key.der", issued.private_key_der)
    _write(root / "ca.der", ca.certificate_der)
    _write(root / "stranger-ca.der", stranger_ca.certificate_der)
    crl = ca.certificate_revocation_list([serial_of(identities["revoked"].certificate_pem)])
    tls_port, plain_port = free_port(), free_port()
    conf = _write(
        root / "mosquitto.conf",
        "per_listener_settings true\npersistence false\nuser root\nlog_type all\n"
        f"log_dest file {root / 'broker.log'}\n"
        f"listener {tls_port} 127.0.0.1\nallow_anonymous false\n"
        f"cafile {_write(root / 'ca.pem', ca.certificate_pem)}\n"
        f"certfile {_write(root / 'server.crt', server.certificate_pem)}\n"
        f"keyfile {_write(root / 'server.key', server.private_key_pem)}\n"
        f"crlfile {_write(root / 'crl.pem', crl)}\n"
        "tls_version tlsv1.2\nrequire_certificate true\nuse_identity_as_username true\n"
        f"listener {plain_port} 127.0.0.1\nallow_anonymous true\n",
    )
    proc = subprocess.Popen(
        [find_mosquitto(), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + WAIT_S
        for port in (tls_port, plain_port):
            while True:
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", port), 1),
                ):
                    break
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mosquitto did not start: {proc.stderr.read()!r}")  # type: ignore[union-attr]
                time.sleep(0.02)
        yield Scene(root, tls_port, plain_port)
    finally:
        proc.terminate()
        proc.wait(10)


CONNECT = """
import asyncio, json, sys, mqtt
cfg = json.load(open(sys.argv[1]))
def rd(name):
    with open(cfg["dir"] + "/" + name, "rb") as f:
        return f.read()
async def main():
    for case in cfg["cases"]:
        ctx = mqtt.tls_context(rd(case["id"] + ".der"), rd(case["id"] + ".key.der"), rd(case["ca"]))
        c = mqtt.Client("thing-" + case["id"], case["host"], case["port"], ctx)
        c.CONNECT_TIMEOUT_MS = 5000
        try:
            await c.connect()
            print("KIND", json.dumps([case["name"], "up", ""]))
        except mqtt.Fault as e:
            print("KIND", json.dumps([case["name"], e.kind, e.detail]))
asyncio.run(main())
"""


def test_a_broker_that_refuses_our_certificate_is_forbidden_our_refusal_is_tls(
    scene: Scene,
) -> None:
    reset_port = _serve_raw(_reset_after_hello)
    hang_up_port = _serve_raw(_hang_up_after_hello)

    def case(
        name: str, port: int, identity: str = "good", ca: str = "ca.der"
    ) -> dict[str, object]:
        host = "127.1" if name == "broker_name_not_in_its_certificate" else "localhost"
        return {"name": name, "id": identity, "ca": ca, "host": host, "port": port}

    cases = [
        case("accepted", scene.tls_port),
        case("revoked", scene.tls_port, identity="revoked"),
        case("unknown_client_ca", scene.tls_port, identity="stranger"),
        case("broker_not_signed_by_our_ca", scene.tls_port, ca="stranger-ca.der"),
        case("broker_name_not_in_its_certificate", scene.tls_port),
        case("reset_after_hello", reset_port),
        case("hang_up_after_hello", hang_up_port),
        case("plain_mqtt_listener", scene.plain_port),
    ]
    cases.append(case("refused", free_port()))  # nothing listens: TCP is refused
    lines = run_mp(CONNECT, {"dir": str(scene.dir), "cases": cases}, path=ESP32_PATH)

    got = {name: (kind, detail) for name, kind, detail in (json.loads(x[5:]) for x in lines)}
    kinds = {name: kind for name, (kind, _) in got.items()}
    assert kinds == {
        "accepted": "up",
        "revoked": "forbidden",  # on the broker's CRL: it aborts after our certificate
        "unknown_client_ca": "forbidden",  # the broker does not know who signed it
        "broker_not_signed_by_our_ca": "tls",  # we refuse the broker
        "broker_name_not_in_its_certificate": "tls",
        "reset_after_hello": "tls",  # no broker certificate ever arrived
        "hang_up_after_hello": "tls",
        "plain_mqtt_listener": "tls",
        "refused": "connect",  # not a TLS failure: the ESP32 poll hides it unless asked
    }, got
    assert "does not match" in got["broker_name_not_in_its_certificate"][1]
    assert "trusted CA" in got["broker_not_signed_by_our_ca"][1]


def test_forbidden_needs_both_the_broker_certificate_and_an_abort() -> None:
    lines = run_mp(
        """
import fault
for err, checked in ((OSError(32), True), (OSError(104), True), (OSError(-0x7780, "ALERT"), True),
                     (OSError(-0x7280, "EOF"), True), (OSError(104), False), (OSError(-12), True),
                     (OSError(-0x2700, "VERIFY"), True), (ValueError("CN mismatch"), True)):
    print(fault.from_tls(err, checked).kind)
""",
        path=(FIRMWARE_DIR,),
    )
    assert lines == ["forbidden"] * 4 + ["tls"] * 4


def test_an_aborted_handshake_is_recognised_by_the_esp32_errno_numbers() -> None:
    # newlib's ECONNABORTED is 113 (Linux: 103, and 113 is EHOSTUNREACH there)
    lines = run_mp(
        """
import fault
from errno import ECONNABORTED
print(ECONNABORTED, fault.from_tls(OSError(ECONNABORTED), True).kind)
print(fault.from_tls(OSError(103), True).kind)
""",
        path=ESP32_PATH,
    )
    assert lines == ["113 forbidden", "tls"]


LEAK = """
import asyncio, gc, json, sys, mqtt, socket
cfg = json.load(open(sys.argv[1]))
def rd(name):
    with open(cfg["dir"] + "/" + name, "rb") as f:
        return f.read()
async def main():
    ctx = mqtt.tls_context(rd("good.der"), rd("good.key.der"), rd("ca.der"))
    for port in cfg["ports"]:
        c = mqtt.Client("thing-good", "localhost", port, ctx)
        c.CONNECT_TIMEOUT_MS = 5000
        try:
            await c.connect()
            c._close(mqtt.Fault("closed"))  # a session that ends closes its sockets too
            print("KIND up")
        except mqtt.Fault as e:
            print("KIND", e.kind)
    print("OPEN", socket.open_count())  # no gc.collect(): the finaliser is not a plan
gc.disable()
asyncio.run(main())
"""


def test_a_failed_handshake_leaves_no_tcp_socket_open(scene: Scene) -> None:
    # MicroPython's extmod/modtls_mbedtls.c forgets the TCP socket when an asynchronous handshake
    # fails, so closing the TLS socket alone leaves it to the garbage collector; lwIP has 10.
    # (asyncio's Stream.close() closes nothing at all: a session's end must close both.)
    ports = [_serve_raw(_reset_after_hello), _serve_raw(_hang_up_after_hello), scene.plain_port]
    ports = [*ports, *ports, scene.tls_port]  # and a session that is set up, then ends
    lines = run_mp(LEAK, {"dir": str(scene.dir), "ports": ports}, path=ESP32_PATH)
    assert lines[:-1] == ["KIND tls"] * 6 + ["KIND up"], lines
    assert lines[-1] == "OPEN 0"
