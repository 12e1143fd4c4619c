"""The workshop's JITP section replayed as written (S004 §JITP, TV-23): the `openssl` commands
(RSA 2048 keys, `req -x509`, `x509 -req -CA`), `buttonrig iot` in place of `aws iot`, and
`mosquitto_pub` with `deviceJITPCertAndCACert.crt` as the device, against the running cloud."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from workshop_jitp import jitp_template

from rig.cloud.runtime import CloudRuntime
from rig.pytest_plugin.cli_runner import buttonrig as run
from rig.pytest_plugin.cli_runner import buttonrig_json as run_json

IOT_POLICY = "WorkshopJitpPolicy"


def _openssl(directory: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True, timeout=60)


def _template() -> str:
    """$TB of the workshop, unescaped, $IOT_POLICY filled in."""
    return json.dumps(jitp_template(IOT_POLICY))


def _publish(cloud: CloudRuntime, directory: Path) -> subprocess.CompletedProcess[str]:
    assert cloud.endpoint is not None
    return subprocess.run(
        [
            *("mosquitto_pub", "--cafile", str(cloud.endpoint.ca_file)),
            *("--cert", "deviceJITPCertAndCACert.crt", "--key", "deviceJITPCert.key"),
            *("-h", cloud.endpoint.server_hostname, "-p", str(cloud.endpoint.port), "-q", "1"),
            *("-t", "ji/tp", "-i", "deviceJITPCert", "--tls-version", "tlsv1.2"),
            *("-m", '{"let-me": "in"}', "-d"),
        ],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_workshop_jitp_with_openssl_and_mosquitto_pub(cloud: CloudRuntime, tmp_path: Path) -> None:
    home, ca_dir = cloud.home, tmp_path
    run(home, "iot", "create-policy", "--policy-name", IOT_POLICY, "--policy-document",
        json.dumps({"Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}))  # fmt: skip
    groups = run_json(home, "iot", "list-thing-groups")["thingGroups"]
    if "bulk-group" not in [g["groupName"] for g in groups]:
        run(home, "iot", "create-thing-group", "--thing-group-name", "bulk-group")
    # your own CA
    _openssl(ca_dir, "genrsa", "-out", "rootCA.key", "2048")
    _openssl(ca_dir, "req", "-x509", "-new", "-nodes", "-key", "rootCA.key", "-sha256",
             "-days", "1024", "-out", "rootCA.pem",
             "-subj", "/C=DE/ST=Berlin/L=Berlin/O=IoT/OU=Workshop/CN=IoT Workshop CA")  # fmt: skip
    code = run_json(home, "iot", "get-registration-code")["registrationCode"]
    _openssl(ca_dir, "genrsa", "-out", "verificationCert.key", "2048")
    _openssl(ca_dir, "req", "-new", "-key", "verificationCert.key", "-out",
             "verificationCert.csr", "-subj", f"/CN={code}")  # fmt: skip
    _openssl(ca_dir, "x509", "-req", "-in", "verificationCert.csr", "-CA", "rootCA.pem",
             "-CAkey", "rootCA.key", "-CAcreateserial", "-out", "verificationCert.pem",
             "-days", "500", "-sha256")  # fmt: skip
    ca_id = run_json(home, "iot", "register-ca-certificate",
                     "--ca-certificate", f"file://{ca_dir / 'rootCA.pem'}",
                     "--verification-cert", f"file://{ca_dir / 'verificationCert.pem'}",
                     )["certificateId"]  # fmt: skip
    run(home, "iot", "describe-ca-certificate", "--certificate-id", ca_id)
    run(home, "iot", "update-ca-certificate", "--new-status", "ACTIVE", "--certificate-id", ca_id)
    config = json.dumps(
        {"templateBody": _template(), "roleArn": "arn:aws:iam::123456789012:role/JITP"}
    )
    run(home, "iot", "update-ca-certificate", "--certificate-id", ca_id,
        "--no-remove-auto-registration", "--new-auto-registration-status", "ENABLE",
        "--registration-config", config)  # fmt: skip
    described = run_json(home, "iot", "describe-ca-certificate", "--certificate-id", ca_id)
    assert json.loads(described["registrationConfig"]["templateBody"]) == json.loads(_template())
    # the device certificate, and the chain file
    _openssl(ca_dir, "genrsa", "-out", "deviceJITPCert.key", "2048")
    _openssl(ca_dir, "req", "-new", "-key", "deviceJITPCert.key", "-out", "deviceJITPCert.csr",
             "-subj", "/C=DE/CN=my-jitp-device")  # fmt: skip
    _openssl(ca_dir, "x509", "-req", "-in", "deviceJITPCert.csr", "-CA", "rootCA.pem",
             "-CAkey", "rootCA.key", "-CAcreateserial", "-out", "deviceJITPCert.pem",
             "-days", "500", "-sha256")  # fmt: skip
    chain = (ca_dir / "deviceJITPCert.pem").read_text() + (ca_dir / "rootCA.pem").read_text()
    (ca_dir / "deviceJITPCertAndCACert.crt").write_text(chain)
    first = _publish(cloud, ca_dir)
    assert first.returncode != 0  # the workshop: "This is a normal behaviour"
    things = run_json(home, "iot", "list-things")["things"]
    provisioned = [t for t in things if t["thingName"] == "my-jitp-device"]
    assert provisioned and provisioned[0]["attributes"] == {"Country": "DE"}
    second = _publish(cloud, ca_dir)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "received PUBACK" in second.stdout + second.stderr
