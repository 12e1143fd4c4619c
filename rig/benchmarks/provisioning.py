"""Bulk provisioning benchmark (metric names: README "Benchmarks").

* `bulk_register_things_per_s`: lines per second of one 500-line thing registration task (the
  AWS IoT Device Management workshop's template: thing with type, group and attributes, a
  certificate from the line's CSR, the shared iot:* policy), from `StartThingRegistrationTask`
  to the task's `Completed`, run by `buttonrig cloud up` in its own process with its input in
  the cloud's object store. Making the keys and CSRs is not timed. A task that does not
  complete, or reports any failed line, gives no figure.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from rig.benchmarks.shadow import CloudProcess, Context
from rig.cloud.api import Cloud
from rig.cloud.objects.client import s3_client

METRICS = ("bulk_register_things_per_s",)
LINES = 500
KEYS = 4  # RSA-2048 key generation is not what is measured: the CSRs share a few keys
TIMEOUT_S = 300.0
BUCKET = "bench-bulk-bucket"
POLICY = '{"Version": "2012-10-17","Statement": [{"Effect": "Allow","Action": ["iot:*"],"Resource": ["*"]}]}'
TEMPLATE = {
    "Parameters": {
        "ThingName": {"Type": "String"},
        "SerialNumber": {"Type": "String"},
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
        "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": POLICY}},
    },
}


def bulk_input(lines: int) -> bytes:
    """mk-bulk.sh's bulk.json: one parameter set per line, each with its own CSR."""
    keys = [rsa.generate_private_key(65537, 2048) for _ in range(KEYS)]
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "AWS"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Big Orchestra"),
        ]
    )
    out = []
    for i in range(1, lines + 1):
        csr = x509.CertificateSigningRequestBuilder().subject_name(subject)
        pem = csr.sign(keys[i % KEYS], hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
        out.append(
            json.dumps({"ThingName": f"bulky{i}", "SerialNumber": str(i), "CSR": pem.decode()})
        )
    return ("\n".join(out) + "\n").encode()


def bulk_rate(workdir: Path, lines: int) -> float:
    home = workdir / "provisioning-home"
    home.mkdir(mode=0o700)
    body = bulk_input(lines)
    cloud_process = CloudProcess(home)
    try:
        cloud = Cloud(home)
        try:
            cloud.create_thing_group("bulk-group")
            cloud.create_thing_type("bulk-type")
            objects = s3_client(cloud_process.data["objects_url"])
            objects.create_bucket(Bucket=BUCKET)
            objects.put_object(Bucket=BUCKET, Key="bulk.json", Body=body)
            started = time.perf_counter()
            task_id = cloud.start_thing_registration_task(
                json.dumps(TEMPLATE), BUCKET, "bulk.json", "arn:aws:iam::123456789012:role/bench"
            )["taskId"]
            while True:
                task = cloud.describe_thing_registration_task(task_id)
                if task["status"] not in ("InProgress", "Cancelling"):
                    break
                if time.perf_counter() - started > TIMEOUT_S:
                    raise RuntimeError(f"the task did not finish within {TIMEOUT_S:.0f} s")
                time.sleep(0.02)
            elapsed = time.perf_counter() - started
        finally:
            cloud.close()
    finally:
        cloud_process.stop()
    if task["status"] != "Completed" or task["successCount"] != lines:
        raise RuntimeError(f"the task ended {task['status']}: {task['message']} ({task})")
    return lines / elapsed


def run(ctx: Context) -> dict[str, float]:
    return {"bulk_register_things_per_s": round(bulk_rate(ctx.workdir, LINES), 1)}
