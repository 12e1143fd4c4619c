"""The AWS IoT Device Management workshop's bulk-provisioning inputs, as a customer brings them
to the cloud: the template (templateBody.json) and the per-device parameter sets with their keys
and CSRs (bin/mk-prov.sh, bin/mk-bulk.sh), from the public repository
aws-samples/aws-iot-device-management-workshop, re-made here in Python (keys and CSRs with
`cryptography` instead of openssl). The benchmark (`rig.benchmarks.provisioning`) and the tests
feed the cloud these same inputs."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

# templateBody.json in the workshop's home directory
TEMPLATE_BODY = {
    "Parameters": {
        "ThingName": {"Type": "String"},
        "SerialNumber": {"Type": "String"},
        "Location": {"Type": "String", "Default": "WA"},
        "CSR": {"Type": "String"},
    },
    "Resources": {
        "thing": {
            "Type": "AWS::IoT::Thing",
            "Properties": {
                "ThingName": {"Ref": "ThingName"},
                "AttributePayload": {"version": "v1", "serialNumber": {"Ref": "SerialNumber"}},
                "ThingTypeName": "bulk-type",
                "ThingGroups": ["bulk-group"],
            },
        },
        "certificate": {
            "Type": "AWS::IoT::Certificate",
            "Properties": {"CertificateSigningRequest": {"Ref": "CSR"}, "Status": "ACTIVE"},
        },
        "policy": {
            "Type": "AWS::IoT::Policy",
            "Properties": {
                "PolicyDocument": '{"Version": "2012-10-17","Statement": [{"Effect": "Allow",'
                '"Action": ["iot:*"],"Resource": ["*"]}]}'
            },
        },
    },
}
# the subject mk-prov.sh and mk-bulk.sh give every CSR
SUBJECT = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
        x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Berlin"),
        x509.NameAttribute(NameOID.LOCALITY_NAME, "Berlin"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "AWS"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Big Orchestra"),
    ]
)
KEY_POOL = 4  # RSA-2048 keys take ~0.1 s each: bulk devices share a few (each CSR is its own)


def write_template(directory: Path) -> Path:
    path = directory / "templateBody.json"
    path.write_text(json.dumps(TEMPLATE_BODY, indent=2))
    return path


@functools.cache
def _key(slot: int) -> rsa.RSAPrivateKey:
    del slot  # the cache key: one key per pool slot
    return rsa.generate_private_key(65537, 2048)


def _pool_key(key_index: int) -> rsa.RSAPrivateKey:
    return _key(key_index % KEY_POOL)


def parameter_set(thing_name: str, serial: str, key_index: int = 0) -> dict:
    """One device's line of mk-prov.sh / mk-bulk.sh output: its name, serial and a fresh CSR."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(SUBJECT)
        .sign(_pool_key(key_index), hashes.SHA256())
    )
    pem = csr.public_bytes(serialization.Encoding.PEM).decode()
    return {"ThingName": thing_name, "SerialNumber": serial, "CSR": pem}


def bulk_json(base: str, count: int) -> str:
    """mk-bulk.sh's bulk.json: `<base><i>` with serial `<i>` for i = 1..count, one line each."""
    lines = [json.dumps(parameter_set(f"{base}{i}", str(i), i)) for i in range(1, count + 1)]
    return "\n".join(lines) + "\n"


def _write_key(directory: Path, thing_name: str, key_index: int) -> None:
    (directory / f"{thing_name}.key").write_bytes(
        _pool_key(key_index).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )


def make_device(directory: Path, thing_name: str, serial: str, key_index: int = 0) -> dict:
    """mk-prov.sh for one device: `<thing>.key` written, its parameter set returned."""
    _write_key(directory, thing_name, key_index)
    return parameter_set(thing_name, serial, key_index)


def make_bulk(directory: Path, base: str, count: int) -> Path:
    """mk-bulk.sh: `<base><i>.key` for i = 1..count and bulk.json, one parameter set a line."""
    for i in range(1, count + 1):
        _write_key(directory, f"{base}{i}", i)
    path = directory / "bulk.json"
    path.write_text(bulk_json(base, count))
    return path
