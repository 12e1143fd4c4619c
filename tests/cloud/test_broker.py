"""The broker launcher: mutual TLS, readiness, clean stop, no broker outliving its owner."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rig.broker import (
    BrokerEndpoint,
    BrokerFiles,
    ClientIdentity,
    MosquittoBroker,
    can_connect,
    mqtt_handshake,
)
from rig.cloud.ca import CertificateAuthority, serial_of

ACL = "user cloud\ntopic readwrite #\n"


def _identity(ca: CertificateAuthority, directory: Path, name: str) -> ClientIdentity:
    issued = ca.issue_client_certificate(name)
    assert issued.private_key_pem is not None
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    cert.write_text(issued.certificate_pem)
    key.write_text(issued.private_key_pem)
    return ClientIdentity(cert, key)


def _files(ca: CertificateAuthority, revoked: list[int] | None = None) -> BrokerFiles:
    server = ca.issue_server_certificate(["localhost", "127.0.0.1"])
    assert server.private_key_pem is not None
    return BrokerFiles(
        ca.certificate_pem.encode(),
        server.certificate_pem.encode(),
        server.private_key_pem.encode(),
        ca.certificate_revocation_list(revoked or []),
        ACL,
    )


def _gone(pid: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().split(")")[-1].split()[0] == "Z":
                    return True
        except (ProcessLookupError, FileNotFoundError):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def broker(ca: CertificateAuthority, tmp_path: Path) -> Iterator[tuple[MosquittoBroker, Path]]:
    probe = _identity(ca, tmp_path, "probe-user")
    running = MosquittoBroker(_files(ca), tmp_path / "logs", probe)
    running.start()
    yield running, tmp_path
    running.stop()


def test_broker_accepts_a_client_certificate_and_stops_cleanly(broker, ca) -> None:
    running, directory = broker
    endpoint = running.endpoint
    assert endpoint is not None and endpoint.host == "127.0.0.1"
    device = _identity(ca, directory, "thing-1")
    assert mqtt_handshake(endpoint, device, timeout=10) == 0
    pid = running.pid
    assert pid is not None
    running.stop()
    assert _gone(pid), f"mosquitto {pid} still running after stop()"
    assert not can_connect(endpoint, device, timeout=2)
    assert running.log_file is not None and "terminating" in running.log_file.read_text()


def test_broker_refuses_a_client_without_certificate(broker, ca) -> None:
    running, _ = broker
    # after a reload too: mosquitto 2.0.11 resets some listener settings on SIGHUP
    running.reload(ACL, ca.certificate_revocation_list([]))
    endpoint = running.endpoint
    context = ssl.create_default_context(cafile=str(endpoint.ca_file))
    with socket.create_connection((endpoint.host, endpoint.port), timeout=10) as raw:
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x0a\x00\x00")
                data = tls.recv(4)
                raise ConnectionError(f"no certificate but the broker answered {data!r}")


def test_broker_refuses_a_certificate_of_another_ca(broker, tmp_path_factory) -> None:
    running, _ = broker
    stranger_ca = CertificateAuthority(tmp_path_factory.mktemp("stranger"))
    stranger = _identity(stranger_ca, tmp_path_factory.mktemp("s"), "thing-x")
    assert not can_connect(running.endpoint, stranger, timeout=5)


def test_reload_revokes_new_connections_only(broker, ca) -> None:
    running, directory = broker
    device = _identity(ca, directory, "thing-2")
    assert can_connect(running.endpoint, device)
    running.reload(ACL, ca.certificate_revocation_list([serial_of(device.cert_file.read_text())]))
    assert not can_connect(running.endpoint, device, timeout=5)
    running.reload(ACL, ca.certificate_revocation_list([]))
    assert can_connect(running.endpoint, device)


def test_a_killed_owner_leaves_no_broker(ca, tmp_path: Path) -> None:
    probe = _identity(ca, tmp_path, "probe-user")
    files = _files(ca)
    for name, data in (
        ("ca.pem", files.ca_pem),
        ("server.crt", files.server_cert_pem),
        ("server.key", files.server_key_pem),
        ("crl.pem", files.crl_pem),
    ):
        (tmp_path / name).write_bytes(data)
    owner_code = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from rig.broker import BrokerFiles, ClientIdentity, MosquittoBroker
        d = Path({str(tmp_path)!r})
        files = BrokerFiles((d / "ca.pem").read_bytes(), (d / "server.crt").read_bytes(),
                            (d / "server.key").read_bytes(), (d / "crl.pem").read_bytes(), "")
        broker = MosquittoBroker(files, d / "logs", ClientIdentity(
            Path({str(probe.cert_file)!r}), Path({str(probe.key_file)!r})))
        broker.start()
        print(broker.pid, broker.endpoint.ca_file.parent, flush=True)
        time.sleep(600)
        """
    )
    owner = subprocess.Popen([sys.executable, "-c", owner_code], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        line = owner.stdout.readline()
        pid_text, runtime = line.split()
        assert pid_text.isdigit(), f"owner printed {line!r} instead of the broker pid"
        broker_pid = int(pid_text)
        assert Path(runtime).is_dir()
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(10)
        assert _gone(broker_pid), f"mosquitto {broker_pid} outlived its SIGKILLed owner"
        deadline = time.monotonic() + 20
        while Path(runtime).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Path(runtime).exists(), f"{runtime} (with the server key) was left behind"
    finally:
        if owner.poll() is None:
            owner.kill()


def test_endpoint_is_plain_data() -> None:
    endpoint = BrokerEndpoint("127.0.0.1", 8883, Path("/ca.pem"))
    assert endpoint.server_hostname == "localhost"
