"""Attach mode: the cloud uses a broker someone else runs (here: one we start by hand)."""

from __future__ import annotations

from pathlib import Path

from rig.broker import BrokerFiles, ClientIdentity, MosquittoBroker, can_connect
from rig.cloud.api import Cloud
from rig.cloud.pytest_fixtures import DeviceClient
from rig.cloud.runtime import AttachTarget, CloudRuntime

OPERATOR_ACL = """user operator-cloud
topic readwrite #
topic readwrite $aws/#
topic readwrite $SYS/#

pattern readwrite $aws/things/%u/#
"""


def _client(cloud: Cloud, directory: Path, common_name: str) -> ClientIdentity:
    issued = cloud.ca.issue_client_certificate(common_name)
    assert issued.private_key_pem is not None
    cert, key = directory / f"{common_name}.crt", directory / f"{common_name}.key"
    cert.write_text(issued.certificate_pem)
    key.write_text(issued.private_key_pem)
    return ClientIdentity(cert, key)


def test_attach_to_a_running_broker(tmp_path: Path) -> None:
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
            setup.ca.certificate_revocation_list([]),
            OPERATOR_ACL,
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
