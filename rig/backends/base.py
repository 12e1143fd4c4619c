"""What the rig needs of a cloud, whichever cloud it is: the `CloudBackend` interface.

End-to-end tests, `buttonrig emulate` and the demo set boards up and observe them through this
interface only, so the same test runs against the local reference cloud (`rig.backends.local`)
and against AWS IoT Core through boto3 (`rig.backends.aws`). What a test needs beyond it (the
local cloud's database, its broker process, its clock) is a *capability* it names with
`@pytest.mark.needs("local-cloud")`; on a backend without it, the test is reported as not
applicable (rig/pytest_plugin/backends.py).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rig.mqtt.endpoint import BrokerEndpoint

LOCAL_CLOUD = "local-cloud"  # the local cloud's internals: its stores, broker and processes


class BackendError(AssertionError):
    """The backend could not do what the rig asked; the message says what it saw."""


@dataclass(frozen=True)
class BoardIdentity:
    """What a customer downloads from the console for one button: its thing, the certificate
    made from a CSR whose key never left the host, and the CA the device endpoint presents."""

    thing_name: str
    certificate_id: str
    certificate_arn: str
    policy_name: str
    certificate_pem: str
    ca_pem: str
    private_key_pem: str = field(repr=False)
    private_key_der: bytes = field(repr=False)


@dataclass(frozen=True)
class ObservedClick:
    """One click as the cloud's side saw it: first copy per eventId, and the copies counted."""

    event_id: str
    serial: str
    click_type: str
    copies: int


class CloudBackend(ABC):
    """A cloud the rig's boards connect to. One instance per test module or command run; every
    resource it creates is named with its `prefix` so a crashed run can be cleaned up."""

    name: str
    capabilities: frozenset[str] = frozenset()

    @property
    @abstractmethod
    def endpoint(self) -> BrokerEndpoint:
        """Where devices connect, and the CA file that verifies the endpoint's certificate."""

    @abstractmethod
    def provision_board(self, thing_name: str) -> BoardIdentity:
        """A thing, an ACTIVE certificate from a CSR made here (EC P-256) and the button's
        policy (connect as itself, publish its clicks, use its shadow and jobs), attached."""

    @abstractmethod
    def certificate_status(self, certificate_id: str) -> str | None:
        """ACTIVE, INACTIVE, REVOKED, …; None when no such certificate exists."""

    @abstractmethod
    def set_certificate_status(self, certificate_id: str, status: str) -> None: ...

    @abstractmethod
    def thing_principals(self, thing_name: str) -> list[str]:
        """ARNs of the certificates attached to the thing ([] when there is no such thing)."""

    @abstractmethod
    def attached_policies(self, certificate_arn: str) -> list[str]:
        """Names of the policies attached to the certificate."""

    @abstractmethod
    def get_shadow(self, thing_name: str, shadow_name: str = "") -> dict[str, Any] | None:
        """The shadow document, None when the thing has no such shadow."""

    @abstractmethod
    def update_shadow(
        self, thing_name: str, document: dict[str, Any], shadow_name: str = ""
    ) -> dict[str, Any]:
        """As iot-data UpdateThingShadow: the accepted document."""

    @abstractmethod
    def create_job(
        self,
        job_id: str,
        targets: Sequence[str],
        document: dict[str, Any],
        target_selection: str = "SNAPSHOT",
    ) -> dict[str, Any]:
        """As iot CreateJob (targets are thing or thing-group ARNs): jobArn, jobId."""

    @abstractmethod
    def job_execution(self, job_id: str, thing_name: str) -> dict[str, Any] | None:
        """As iot DescribeJobExecution's `execution`; None when there is none."""

    @abstractmethod
    def clicks(self, serial: str) -> list[ObservedClick]:
        """The clicks the cloud received from the button with this serial, oldest first."""

    @abstractmethod
    def thing_arn(self, thing_name: str) -> str: ...

    @abstractmethod
    def thing_group_arn(self, group_name: str) -> str: ...

    def wait_for_clicks(
        self, serial: str, count: int, timeout: float = 30.0
    ) -> list[ObservedClick]:
        """At least `count` clicks of `serial` observed; BackendError listing those seen if not
        within `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self.clicks(serial)
            if len(seen) >= count:
                return seen
            if time.monotonic() > deadline:
                shown = [(c.click_type, c.event_id) for c in seen]
                raise BackendError(
                    f"{self.name}: {count} clicks of {serial} not seen within {timeout} s;"
                    f" saw {len(seen)}: {shown}"
                )
            time.sleep(0.1)

    def close(self) -> None:
        """Release clients and connections (resources in the cloud stay: see cleanup)."""
        return None

    def cleanup(self) -> list[str]:
        """Delete what this backend's prefix names; the ARNs or names deleted."""
        return []
