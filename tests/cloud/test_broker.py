"""The broker launcher: mutual TLS, readiness, clean stop, no broker outliving its owner."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from rig.broker import BrokerError, BrokerFiles, MosquittoBroker, RuntimeDirectory
from rig.cloud.auth.decisions import ConnectionDecision
from rig.cloud.auth.plugin_server import PluginServer
from rig.cloud.certificates.ca import CertificateAuthority, certificate_id_of, pem_to_der
from rig.mqtt.endpoint import BrokerEndpoint, ClientIdentity
from rig.mqtt.handshake import can_connect, mqtt_handshake


class Decisions:
    """The broker plugin's answers for these tests: every certificate of the CA has full rights,
    but those in `refused`."""

    def __init__(self) -> None:
        self.refused: set[str] = set()

    def refuse(self, identity: ClientIdentity) -> None:
        self.refused.add(certificate_id_of(pem_to_der(identity.cert_file.read_text())))

    def decide(self, certificate_id: str, _client_id: str) -> ConnectionDecision:
        if certificate_id in self.refused:
            return ConnectionDecision(False, "refused by the test")
        return ConnectionDecision(True, "test", full=True)


@pytest.fixture
def decisions() -> Iterator[tuple[Decisions, PluginServer]]:
    directory = RuntimeDirectory()
    answers = Decisions()
    server = PluginServer(directory.path / "auth.sock", answers.decide, directory.group)
    server.start()
    yield answers, server
    server.stop()
    directory.remove()


def _identity(ca: CertificateAuthority, directory: Path, name: str) -> ClientIdentity:
    issued = ca.issue_client_certificate(name)
    assert issued.private_key_pem is not None
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    cert.write_text(issued.certificate_pem)
    key.write_text(issued.private_key_pem)
    return ClientIdentity(cert, key)


def _files(ca: CertificateAuthority, auth_socket: Path) -> BrokerFiles:
    server = ca.issue_server_certificate(["localhost", "127.0.0.1"])
    assert server.private_key_pem is not None
    return BrokerFiles(
        ca.certificate_pem.encode(),
        server.certificate_pem.encode(),
        server.private_key_pem.encode(),
        auth_socket,
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
def broker(
    ca: CertificateAuthority, tmp_path: Path, decisions: tuple[Decisions, PluginServer]
) -> Iterator[tuple[MosquittoBroker, Path]]:
    probe = _identity(ca, tmp_path, "probe-user")
    running = MosquittoBroker(_files(ca, decisions[1].path), tmp_path / "logs", probe)
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


def test_broker_refuses_a_client_without_certificate(broker) -> None:
    running, _ = broker
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


def test_each_connect_is_decided_by_the_plugin_when_it_comes(broker, ca, decisions) -> None:
    running, directory = broker
    answers, _ = decisions
    device = _identity(ca, directory, "thing-2")
    assert can_connect(running.endpoint, device)
    answers.refuse(device)
    assert mqtt_handshake(running.endpoint, device, timeout=5) == 5  # not authorized
    answers.refused.clear()
    assert can_connect(running.endpoint, device)


def _processes_naming(text: str) -> list[int]:
    """Pids whose command line holds `text` (a broker's or a watchdog's runtime directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue  # gone meanwhile
    return found


def _connected_client(
    endpoint: BrokerEndpoint, identity: ClientIdentity
) -> tuple[paho.Client, threading.Event]:
    """A paho client connected for good; the event is set when the broker drops it."""
    up, dropped = threading.Event(), threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="restart-witness")
    client.tls_set(str(endpoint.ca_file), str(identity.cert_file), str(identity.key_file))
    client.on_connect = lambda *_a: up.set()
    client.on_disconnect = lambda *_a: dropped.set()
    client.connect(endpoint.host, endpoint.port, keepalive=30)
    client.loop_start()
    assert up.wait(10), "the witness did not connect"
    return client, dropped


@pytest.mark.parametrize("how", ["restart", "stop_then_start"])
def test_a_restart_keeps_the_port_and_the_auth_in_force(broker, ca, decisions, how: str) -> None:
    running, directory = broker
    device = _identity(ca, directory, "thing-3")
    revoked = _identity(ca, directory, "thing-4")
    decisions[0].refuse(revoked)
    before, old_pid, old_log = running.endpoint, running.pid, running.log_file
    old_runtime = str(before.ca_file.parent)
    witness, dropped = _connected_client(before, device)
    try:
        if how == "restart":
            after = running.restart()
        else:
            running.stop()
            assert not can_connect(before, device, timeout=2), "stopped, yet it answers"
            after = running.start(port=before.port)
        assert dropped.wait(10), "a client of the old run was not disconnected"
    finally:
        witness.loop_stop()
    assert (after.host, after.port) == (before.host, before.port)
    assert after.ca_file.read_bytes() == ca.certificate_pem.encode()
    assert running.pid != old_pid and _gone(old_pid)
    assert not _processes_naming(old_runtime), "the old run's watchdog (or broker) lives on"
    assert not Path(old_runtime).exists()
    assert running.log_file != old_log and "terminating" in old_log.read_text()
    assert can_connect(after, device)
    assert not can_connect(after, revoked, timeout=5), "the revocation was lost in the restart"


def test_restart_and_start_refuse_a_wrong_state(broker, ca, tmp_path: Path) -> None:
    running, _ = broker
    with pytest.raises(BrokerError, match="already running"):
        running.start()
    files = _files(ca, tmp_path / "auth.sock")
    idle = MosquittoBroker(files, tmp_path / "idle-logs", _identity(ca, tmp_path, "p"))
    with pytest.raises(BrokerError, match="not running"):
        idle.restart()


@pytest.mark.parametrize("restarted", [False, True])
def test_a_killed_owner_leaves_no_broker(ca, tmp_path: Path, restarted: bool) -> None:
    probe = _identity(ca, tmp_path, "probe-user")
    files = _files(ca, tmp_path / "unused.sock")
    for name, data in (
        ("ca.pem", files.ca_pem),
        ("server.crt", files.server_cert_pem),
        ("server.key", files.server_key_pem),
    ):
        (tmp_path / name).write_bytes(data)
    owner_code = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from rig.broker import BrokerFiles, MosquittoBroker, RuntimeDirectory
        from rig.cloud.auth.decisions import ConnectionDecision
        from rig.cloud.auth.plugin_server import PluginServer
        from rig.mqtt.endpoint import ClientIdentity
        d = Path({str(tmp_path)!r})
        sockets = RuntimeDirectory()
        server = PluginServer(sockets.path / "auth.sock",
                              lambda _c, _i: ConnectionDecision(True, "", full=True), sockets.group)
        server.start()
        files = BrokerFiles((d / "ca.pem").read_bytes(), (d / "server.crt").read_bytes(),
                            (d / "server.key").read_bytes(), server.path)
        broker = MosquittoBroker(files, d / "logs", ClientIdentity(
            Path({str(probe.cert_file)!r}), Path({str(probe.key_file)!r})))
        broker.start()
        if {restarted!r}:
            broker.restart()  # the new run's watchdog must stop it
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


def _keeper(endpoint: BrokerEndpoint, identity: ClientIdentity, inbox: list[bytes]) -> paho.Client:
    """A persistent-session client (as the cloud's own is), connected and looping."""
    up = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="keeper", clean_session=False)
    client.tls_set(str(endpoint.ca_file), str(identity.cert_file), str(identity.key_file))
    client.on_connect = lambda *_a: up.set()
    client.on_message = lambda _c, _u, message: inbox.append(bytes(message.payload))
    client.connect(endpoint.host, endpoint.port, keepalive=30)
    client.loop_start()
    assert up.wait(10), "the keeper did not connect"
    return client


def test_sessions_outlive_a_broker_whose_owner_was_killed(
    ca, tmp_path: Path, decisions: tuple[Decisions, PluginServer]
) -> None:
    """The owner dies (SIGKILL) while a QoS 1 message waits in an offline persistent session:
    the watchdog stops the broker, keeps what it saved in the state file, and the next broker
    started with that file delivers the message."""
    probe = _identity(ca, tmp_path, "probe-user")
    keeper_identity = _identity(ca, tmp_path, "keeper")
    sender = _identity(ca, tmp_path, "sender")
    files = _files(ca, decisions[1].path)  # every certificate of the CA has full rights
    for name, data in (
        ("ca.pem", files.ca_pem),
        ("server.crt", files.server_cert_pem),
        ("server.key", files.server_key_pem),
    ):
        (tmp_path / name).write_bytes(data)
    state_file = tmp_path / "sessions.db"
    owner_code = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from rig.broker import BrokerFiles, MosquittoBroker
        from rig.mqtt.endpoint import ClientIdentity
        d = Path({str(tmp_path)!r})
        files = BrokerFiles((d / "ca.pem").read_bytes(), (d / "server.crt").read_bytes(),
                            (d / "server.key").read_bytes(), Path({str(files.auth_socket)!r}))
        broker = MosquittoBroker(files, d / "logs", ClientIdentity(
            Path({str(probe.cert_file)!r}), Path({str(probe.key_file)!r})),
            state_file=Path({str(state_file)!r}), session_keeper="keeper")
        broker.start()
        print(broker.pid, broker.endpoint.port, flush=True)
        time.sleep(600)
        """
    )
    owner = subprocess.Popen([sys.executable, "-c", owner_code], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        pid_text, port_text = owner.stdout.readline().split()
        endpoint = BrokerEndpoint("127.0.0.1", int(port_text), tmp_path / "ca.pem")
        first: list[bytes] = []
        keeper = _keeper(endpoint, keeper_identity, first)
        keeper.subscribe("kept/#", qos=1)
        time.sleep(0.5)  # the SUBACK
        keeper.disconnect()
        keeper.loop_stop()
        publisher = paho.Client(CallbackAPIVersion.VERSION2, client_id="sender")
        publisher.tls_set(str(endpoint.ca_file), str(sender.cert_file), str(sender.key_file))
        publisher.connect(endpoint.host, endpoint.port, keepalive=30)
        publisher.loop_start()
        publisher.publish(
            "kept/1", b"acknowledged while the keeper was away", qos=1
        ).wait_for_publish(10)
        publisher.disconnect()
        publisher.loop_stop()
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(10)
        assert _gone(int(pid_text))
    finally:
        if owner.poll() is None:
            owner.kill()
    deadline = time.monotonic() + 20
    while not state_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # the watchdog copies it once the broker has saved and ended
    assert state_file.exists(), "the watchdog kept no sessions"

    again = MosquittoBroker(
        files, tmp_path / "logs-again", probe, state_file=state_file, session_keeper="keeper"
    )
    restarted = again.start(port=endpoint.port)
    try:
        inbox: list[bytes] = []
        keeper = _keeper(restarted, keeper_identity, inbox)
        deadline = time.monotonic() + 10
        while not inbox and time.monotonic() < deadline:
            time.sleep(0.05)
        keeper.disconnect()
        keeper.loop_stop()
        assert inbox == [b"acknowledged while the keeper was away"]
    finally:
        again.stop()
