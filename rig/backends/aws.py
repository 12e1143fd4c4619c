"""AWS IoT Core as a backend, through boto3: the account's `iot:Data-ATS` endpoint, Amazon's root
CA, and a run prefix on what it creates. With `endpoint_url` the same code talks to the local
reference cloud's AWS HTTP interface (`api_url` in endpoint.json), which is how CI exercises it.

Things are named by the buttons' serials (the firmware connects with its serial as client id and
publishes on iotbutton/<serial>), so they carry the run in the attribute `buttonrig_run`; policies
and jobs carry it in their names. `cleanup()` deletes what a run (or a crashed one with the same
prefix) left. Clicks are observed by an MQTT client of the backend's own, subscribed to
`iotbutton/+` before any board is provisioned, counting copies by eventId.
"""

from __future__ import annotations

import json
import queue
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import certifi
from botocore.exceptions import ClientError
from cryptography import x509

from rig.backends.base import BackendError, BoardIdentity, CloudBackend, ObservedClick
from rig.backends.cleanup import RUN_ATTRIBUTE, delete_run
from rig.backends.keys import new_key_and_csr
from rig.mqtt.device_client import DeviceClient
from rig.mqtt.endpoint import BrokerEndpoint

AWS_MQTT_PORT = 8883
AMAZON_ROOT_CA_1 = "Amazon Root CA 1"


def amazon_root_ca_pem() -> str:
    """Amazon Root CA 1 (what AWS's `iot:Data-ATS` endpoints chain to), from certifi's bundle,
    found by the label certifi writes above each certificate."""
    bundle = Path(certifi.where()).read_text()
    label = bundle.find(f'# Label: "{AMAZON_ROOT_CA_1}"')
    begin = bundle.find("-----BEGIN CERTIFICATE-----", label)
    end_marker = "-----END CERTIFICATE-----"
    end = bundle.find(end_marker, begin)
    if label < 0 or begin < 0 or end < 0:
        raise BackendError(f"{AMAZON_ROOT_CA_1} is not in certifi's bundle {certifi.where()}")
    pem = bundle[begin : end + len(end_marker)] + "\n"
    x509.load_pem_x509_certificate(pem.encode())  # a damaged bundle fails here, not in TLS
    return pem


@dataclass(frozen=True)
class ArnParts:
    partition: str
    region: str
    account: str

    @classmethod
    def of(cls, arn: str) -> ArnParts:
        parts = arn.split(":")
        if len(parts) < 6 or parts[0] != "arn":
            raise BackendError(f"not an ARN: {arn!r}")
        return cls(parts[1], parts[3], parts[4])

    def iot(self, resource: str) -> str:
        return f"arn:{self.partition}:iot:{self.region}:{self.account}:{resource}"


def button_policy(where: ArnParts, thing_name: str) -> str:
    """Connect as itself, publish its clicks, use its own shadow and jobs (as the local cloud's
    `button_policy_document`, in the account's own ARNs)."""
    own = [f"$aws/things/{thing_name}/shadow/*", f"$aws/things/{thing_name}/jobs/*"]
    topics = [where.iot(f"topic/{t}") for t in own]
    statements = [
        {
            "Effect": "Allow",
            "Action": "iot:Connect",
            "Resource": where.iot(f"client/{thing_name}"),
        },
        {
            "Effect": "Allow",
            "Action": "iot:Publish",
            "Resource": [where.iot(f"topic/iotbutton/{thing_name}"), *topics],
        },
        {
            "Effect": "Allow",
            "Action": "iot:Subscribe",
            "Resource": [where.iot(f"topicfilter/{t}") for t in own],
        },
        {"Effect": "Allow", "Action": "iot:Receive", "Resource": topics},
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def observer_policy(where: ArnParts, client_id: str) -> str:
    statements = [
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": where.iot(f"client/{client_id}")},
        {
            "Effect": "Allow",
            "Action": "iot:Subscribe",
            "Resource": where.iot("topicfilter/iotbutton/*"),
        },
        {"Effect": "Allow", "Action": "iot:Receive", "Resource": where.iot("topic/iotbutton/*")},
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class ClickObserver:
    """An MQTT client subscribed to iotbutton/+; `clicks(serial)` reads what arrived so far."""

    def __init__(self, client: DeviceClient) -> None:
        self.client = client
        self._by_event: dict[str, ObservedClick] = {}
        self._order: list[str] = []

    def start(self) -> None:
        self.client.connect()
        codes = self.client.subscribe("iotbutton/+", qos=1)
        if any(code >= 128 for code in codes):
            raise BackendError(f"the click observer may not subscribe to iotbutton/+: {codes}")

    def _drain(self) -> None:
        while True:
            try:
                message = self.client.messages.get_nowait()
            except queue.Empty:
                return
            try:
                click = json.loads(message.payload)
                event_id = str(click["eventId"])
            except (ValueError, KeyError, TypeError):
                continue  # not a click message: the clicks service's concern, not ours
            seen = self._by_event.get(event_id)
            if seen is None:
                serial = message.topic.split("/", 1)[1]
                self._by_event[event_id] = ObservedClick(
                    event_id, serial, str(click.get("clickType")), 1
                )
                self._order.append(event_id)
            else:
                self._by_event[event_id] = ObservedClick(
                    event_id, seen.serial, seen.click_type, seen.copies + 1
                )

    def clicks(self, serial: str) -> list[ObservedClick]:
        self._drain()
        found = (self._by_event[e] for e in self._order)
        return [c for c in found if c.serial == serial]

    def close(self) -> None:
        self.client.close()


class AwsBackend(CloudBackend):
    """`AwsBackend(prefix)` on the account boto3's credentials name; `endpoint_url` and
    `device_endpoint` point it at another implementation of AWS's APIs (the local cloud's)."""

    name = "aws"

    def __init__(
        self,
        prefix: str | None = None,
        endpoint_url: str | None = None,
        device_endpoint: BrokerEndpoint | None = None,
        session: boto3.Session | None = None,
        workdir: Path | None = None,
    ) -> None:
        self.prefix = prefix or f"rig-{uuid.uuid4().hex[:8]}-"
        session = session or boto3.Session()
        self.iot = session.client("iot", endpoint_url=endpoint_url)
        self._workdir = workdir or Path(tempfile.mkdtemp(prefix="buttonrig-aws-"))
        self._device_endpoint = device_endpoint
        data_url = endpoint_url or f"https://{self.endpoint.host}"
        self.iot_data = session.client("iot-data", endpoint_url=data_url)
        self._observer: ClickObserver | None = None
        self._where: ArnParts | None = None

    # ---- where devices connect --------------------------------------------------------------

    @property
    def endpoint(self) -> BrokerEndpoint:
        if self._device_endpoint is None:
            address = self.iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"]
            ca_file = self._workdir / "AmazonRootCA1.pem"
            ca_file.write_text(amazon_root_ca_pem())
            self._device_endpoint = BrokerEndpoint(address, AWS_MQTT_PORT, ca_file, address)
        return self._device_endpoint

    def _ca_pem(self) -> str:
        return self.endpoint.ca_file.read_text()

    # ---- provisioning -------------------------------------------------------------------------

    def _create_thing(self, thing_name: str) -> str:
        attributes = {"attributes": {RUN_ATTRIBUTE: self.prefix.rstrip("-")}}
        try:
            made = self.iot.create_thing(thingName=thing_name, attributePayload=attributes)
            thing_arn = str(made["thingArn"])
        except ClientError as exc:
            if _code(exc) != "ResourceAlreadyExistsException":
                raise
            thing_arn = str(self.iot.describe_thing(thingName=thing_name)["thingArn"])
        if self._where is None:
            self._where = ArnParts.of(thing_arn)
        return thing_arn

    def _identity(self, thing_name: str, policy_document: str) -> BoardIdentity:
        self._create_thing(thing_name)
        made = new_key_and_csr(thing_name)
        certificate = self.iot.create_certificate_from_csr(
            certificateSigningRequest=made.csr_pem, setAsActive=True
        )
        policy_name = f"{self.prefix}{thing_name}-{uuid.uuid4().hex[:6]}"
        self.iot.create_policy(policyName=policy_name, policyDocument=policy_document)
        arn = certificate["certificateArn"]
        self.iot.attach_policy(policyName=policy_name, target=arn)
        self.iot.attach_thing_principal(thingName=thing_name, principal=arn)
        return BoardIdentity(
            thing_name=thing_name,
            certificate_id=certificate["certificateId"],
            certificate_arn=arn,
            policy_name=policy_name,
            certificate_pem=certificate["certificatePem"],
            ca_pem=self._ca_pem(),
            private_key_pem=made.private_key_pem,
            private_key_der=made.private_key_der,
        )

    def _arns(self, thing_name: str) -> ArnParts:
        if self._where is None:
            self._create_thing(thing_name)
        assert self._where is not None
        return self._where

    def provision_board(self, thing_name: str) -> BoardIdentity:
        self._start_observer(thing_name)
        return self._identity(thing_name, button_policy(self._arns(thing_name), thing_name))

    def _start_observer(self, any_thing: str) -> None:
        if self._observer is not None:
            return
        client_id = f"{self.prefix}observer"
        identity = self._identity(client_id, observer_policy(self._arns(any_thing), client_id))
        cert = self._workdir / "observer.crt.pem"
        key = self._workdir / "observer.key.pem"
        cert.write_text(identity.certificate_pem)
        key.touch(0o600)
        key.write_text(identity.private_key_pem)
        observer = ClickObserver(DeviceClient(self.endpoint, cert, key, client_id))
        observer.start()
        self._observer = observer

    # ---- registry and certificates -------------------------------------------------------------

    def certificate_status(self, certificate_id: str) -> str | None:
        try:
            found = self.iot.describe_certificate(certificateId=certificate_id)
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return None
            raise
        return str(found["certificateDescription"]["status"])

    def set_certificate_status(self, certificate_id: str, status: str) -> None:
        self.iot.update_certificate(certificateId=certificate_id, newStatus=status)

    def thing_principals(self, thing_name: str) -> list[str]:
        try:
            return list(self.iot.list_thing_principals(thingName=thing_name)["principals"])
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return []
            raise

    def attached_policies(self, certificate_arn: str) -> list[str]:
        found = self.iot.list_attached_policies(target=certificate_arn)["policies"]
        return [p["policyName"] for p in found]

    def thing_arn(self, thing_name: str) -> str:
        return str(self.iot.describe_thing(thingName=thing_name)["thingArn"])

    def thing_group_arn(self, group_name: str) -> str:
        return str(self.iot.describe_thing_group(thingGroupName=group_name)["thingGroupArn"])

    # ---- shadows and jobs -----------------------------------------------------------------------

    def get_shadow(self, thing_name: str, shadow_name: str = "") -> dict[str, Any] | None:
        named = {"shadowName": shadow_name} if shadow_name else {}
        try:
            reply = self.iot_data.get_thing_shadow(thingName=thing_name, **named)
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return None
            raise
        return json.loads(reply["payload"].read())

    def update_shadow(
        self, thing_name: str, document: dict[str, Any], shadow_name: str = ""
    ) -> dict[str, Any]:
        named = {"shadowName": shadow_name} if shadow_name else {}
        reply = self.iot_data.update_thing_shadow(
            thingName=thing_name, payload=json.dumps(document).encode(), **named
        )
        return json.loads(reply["payload"].read())

    def create_job(
        self,
        job_id: str,
        targets: Sequence[str],
        document: dict[str, Any],
        target_selection: str = "SNAPSHOT",
    ) -> dict[str, Any]:
        made = self.iot.create_job(
            jobId=f"{self.prefix}{job_id}" if not job_id.startswith(self.prefix) else job_id,
            targets=list(targets),
            document=json.dumps(document),
            targetSelection=target_selection,
        )
        return {"jobId": made["jobId"], "jobArn": made["jobArn"]}

    def job_execution(self, job_id: str, thing_name: str) -> dict[str, Any] | None:
        job_id = job_id if job_id.startswith(self.prefix) else f"{self.prefix}{job_id}"
        try:
            found = self.iot.describe_job_execution(jobId=job_id, thingName=thing_name)
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return None
            raise
        return dict(found["execution"])

    def clicks(self, serial: str) -> list[ObservedClick]:
        if self._observer is None:
            return []
        return self._observer.clicks(serial)

    # ---- the end of a run --------------------------------------------------------------------

    def close(self) -> None:
        if self._observer is not None:
            self._observer.close()
            self._observer = None

    def cleanup(self) -> list[str]:
        """Delete the run's things (by attribute), their certificates, the run's policies and
        jobs; what was deleted, by name or ARN."""
        return delete_run(self.iot, self.prefix)
