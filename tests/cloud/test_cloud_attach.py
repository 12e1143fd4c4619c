"""Attach mode: the cloud uses a broker someone else runs (here: one we start by hand)."""

from __future__ import annotations

import dataclasses
import json
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from open_broker import everyone_allowed

from rig.broker import LOOPBACK, AttachedBroker, BrokerError, BrokerFiles, MosquittoBroker
from rig.cloud.api import Cloud
from rig.cloud.runtime import AttachTarget, CloudRuntime
from rig.mqtt.device_client import DeviceClient
from rig.mqtt.endpoint import BrokerEndpoint, ClientIdentity
from rig.mqtt.handshake import can_connect


@pytest.fixture
def auth_socket() -> Iterator[Path]:
    """The operator's broker lets every certificate of its CA do everything."""
    with everyone_allowed() as path:
        yield path


def _client(cloud: Cloud, directory: Path, common_name: str) -> ClientIdentity:
    issued = cloud.ca.issue_client_certificate(common_name)
    assert issued.private_key_pem is not None
    cert, key = directory / f"{common_name}.crt", directory / f"{common_name}.key"
    cert.write_text(issued.certificate_pem)
    key.write_text(issued.private_key_pem)
    return ClientIdentity(cert, key)


def test_attach_to_a_running_broker(tmp_path: Path, auth_socket: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    setup = Cloud(home)  # the operator's broker trusts the cloud's CA
    server = setup.ca.issue_server_certificate(["localhost", "127.0.0.1"])
    assert server.private_key_pem is not None
    operator = MosquittoBroker(
        BrokerFiles(
            setup.ca.certificate_pem.encode(),
            server.certificate_pem.encode(),
            server.private_key_pem.encode(),
            auth_socket,
        ),
        tmp_path / "operator-logs",
        _client(setup, tmp_path, "operator-probe"),
    )
    endpoint = operator.start()
    try:
        identity = _client(setup, tmp_path, "operator-cloud")
        with CloudRuntime(home, AttachTarget(endpoint, identity)) as runtime:
            provisioned = runtime.cloud.provision_button("attached-1")
            cert, key = tmp_path / "a.crt", tmp_path / "a.key"
            cert.write_text(provisioned["certificatePem"])
            key.write_text(provisioned["privateKeyPem"])
            assert provisioned["endpoint"]["port"] == endpoint.port
            assert provisioned["endpoint"]["mode"] == "attached"
            device = DeviceClient(endpoint, cert, key, "attached-1").connect()
            try:
                base = "$aws/things/attached-1/shadow"
                device.subscribe(f"{base}/update/accepted")
                device.publish(f"{base}/update", {"state": {"reported": {"x": 1}}})
                assert device.expect(f"{base}/update/accepted")["version"] == 1
            finally:
                device.close()
        probe = _client(setup, tmp_path, "operator-probe-2")
        assert can_connect(endpoint, probe), "stopping the attached cloud stopped the broker"
        assert not (home / "endpoint.json").exists()
    finally:
        operator.stop()
        setup.close()


class IpOnlyBroker(MosquittoBroker):
    """An operator's broker whose server certificate names only 127.0.0.1 (no `localhost`)."""

    def _wait_ready(self, endpoint: BrokerEndpoint, timeout: float) -> None:
        super()._wait_ready(dataclasses.replace(endpoint, server_hostname=LOOPBACK), timeout)


@pytest.fixture
def ip_only_broker(
    tmp_path: Path, auth_socket: Path
) -> Iterator[tuple[BrokerEndpoint, ClientIdentity]]:
    """The broker (its endpoint as an operator would give it) and the cloud service's identity,
    all from an operator CA that is not the rig home's."""
    operator_home = tmp_path / "operator-home"
    operator_home.mkdir(mode=0o700)
    operator_ca = Cloud(operator_home)
    server = operator_ca.ca.issue_server_certificate([LOOPBACK])
    assert server.private_key_pem is not None
    broker = IpOnlyBroker(
        BrokerFiles(
            operator_ca.ca.certificate_pem.encode(),
            server.certificate_pem.encode(),
            server.private_key_pem.encode(),
            auth_socket,
        ),
        tmp_path / "operator-logs",
        _client(operator_ca, tmp_path, "operator-probe"),
    )
    started = broker.start()
    try:
        yield (
            BrokerEndpoint(LOOPBACK, started.port, operator_ca.ca.certificate_file, LOOPBACK),
            _client(operator_ca, tmp_path, "operator-cloud"),
        )
    finally:
        broker.stop()
        operator_ca.close()


def _endpoint_of(process: subprocess.Popen[str], home: Path, timeout: float = 60.0) -> dict:
    path = home / "endpoint.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"cloud up exited {process.returncode}: {output}")
        if path.exists():
            data = json.loads(path.read_text())
            if data.get("pid") == process.pid:
                return data
        time.sleep(0.05)
    raise AssertionError(f"no {path} after {timeout} s")


def test_cloud_up_attaches_by_ip_address_and_hands_out_the_attached_ca(
    tmp_path: Path, ip_only_broker: tuple[BrokerEndpoint, ClientIdentity]
) -> None:
    broker, identity = ip_only_broker
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "rig.cli", "--home", str(home), "cloud", "up"),
            *("--attach-host", LOOPBACK, "--attach-port", str(broker.port)),
            *("--attach-ca", str(broker.ca_file)),
            *("--attach-cert", str(identity.cert_file), "--attach-key", str(identity.key_file)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        document = _endpoint_of(process, home)
        assert document["mode"] == "attached" and document["server_hostname"] == LOOPBACK
        assert document["ca_file"] == str(broker.ca_file)
        operator_ca_der = ssl.PEM_cert_to_DER_cert(broker.ca_file.read_text())
        assert Path(document["ca_der_file"]).read_bytes() == operator_ca_der
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            assert process.wait(30) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def test_an_attach_failure_names_its_cause(
    ip_only_broker: tuple[BrokerEndpoint, ClientIdentity],
) -> None:
    broker, identity = ip_only_broker
    by_name = dataclasses.replace(broker, server_hostname="localhost")
    started = time.monotonic()
    with pytest.raises(BrokerError, match=r"server name 'localhost'.*certificate verify failed"):
        AttachedBroker(by_name, identity).start(timeout=30)
    # waiting cannot make the certificate name another host: no retries until the deadline
    assert time.monotonic() - started < 10
