"""A device's first CONNECT with a certificate the registry has not seen: just-in-time
registration (JITR) and provisioning (JITP), as the guide's "Using Automatic/Just-in-Time
Registration for Device Certificates" and "Just-in-Time Provisioning" describe them.

The broker plugin hands over the certificate of every first CONNECT (it already passed TLS
verification, so a registered CA signed it, or the cloud's own CA did). When its CA is
registered, ACTIVE and has auto-registration ENABLE:

* with a registration config (template): JITP provisions the thing, the certificate and its
  policies from the template; the connection is closed (the workshop: "normal behaviour"), the
  next one is decided as usual;
* without: JITR registers the certificate PENDING_ACTIVATION, publishes the registration event
  on `$aws/events/certificates/registered/<caCertificateId>` and the connection is closed.

"When a certificate in PENDING_ACTIVATION status connects" the event is published again.
Returns the reason to refuse the connection with, or None to let the usual decision speak.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

from cryptography import x509

from rig.cloud.ca_registration import pem
from rig.cloud.ca_registration.store import CaRegistry
from rig.cloud.core import arn, events
from rig.cloud.core.errors import CloudError, ResourceAlreadyExistsException

log = logging.getLogger(__name__)
REGISTERED_TOPIC = "$aws/events/certificates/registered/{ca}"
# JITP: (the CA's template body, the connecting certificate, the CA's id) -> provisioned, or a
# CloudError with nothing created; the provisioning engine's (rig/cloud/provisioning/
# just_in_time.py), handed in by the runtime (this layer does not import provisioning)
Provision = Callable[[str, x509.Certificate, str], None]


def registered_event(certificate_id: str, ca_certificate_id: str, registered_ms: int) -> dict:
    """The guide's message: `timestamp` a number, the registration timestamp a string."""
    return {
        "certificateId": certificate_id,
        "caCertificateId": ca_certificate_id,
        "timestamp": events.now_ms(),
        "certificateStatus": "PENDING_ACTIVATION",
        "awsAccountId": arn.ACCOUNT,
        "certificateRegistrationTimestamp": str(registered_ms),
    }


class Admission:
    """`presented(certificate_id, der)` at each first CONNECT (a plugin connection thread)."""

    def __init__(self, ca_registry: CaRegistry, provision: Provision) -> None:
        self.ca_registry = ca_registry
        self.provision = provision

    def presented(self, certificate_id: str, der: bytes) -> str | None:
        try:
            certificate = pem.load_der(der)
        except ValueError:
            return None  # the usual decision refuses an unknown certificate
        if pem.id_of(certificate) != certificate_id:
            return "the certificate does not match its id"
        try:
            return self._admit(certificate_id, certificate)
        except CloudError as exc:
            log.warning("auto-registration of %s failed: %s", certificate_id, exc)
            return f"auto-registration failed: {exc}"

    def _admit(self, certificate_id: str, certificate: x509.Certificate) -> str | None:
        store = self.ca_registry.store
        # every device's first CONNECT comes here: the common cases (a known certificate, one
        # from no registered CA) are decided from a read, without taking the write lock
        known = (
            store.read()
            .execute("SELECT status FROM certificates WHERE certificate_id = ?", (certificate_id,))
            .fetchone()
        )
        if known is not None and known["status"] != "PENDING_ACTIVATION":
            return None
        if known is None and self.ca_registry.issuer_of(store.read(), certificate) is None:
            return None
        with store.write() as db:
            known = db.execute(
                "SELECT status, created_ms FROM certificates WHERE certificate_id = ?",
                (certificate_id,),
            ).fetchone()
            if known is not None:
                if known["status"] == "PENDING_ACTIVATION":
                    self._announce_again(db, certificate_id, known["created_ms"])
                return None
            ca = self.ca_registry.issuer_of(db, certificate)
            if ca is None:
                return None  # not from a registered CA: "unknown certificate"
            ca_id = ca["ca_certificate_id"]
            if ca["status"] != "ACTIVE":
                return f"unknown certificate: its CA certificate {ca_id} is INACTIVE"
            if ca["auto_registration"] != "ENABLE":
                return f"unknown certificate: auto-registration of CA certificate {ca_id} is off"
            template = ca["template_body"]
            if template is None:
                self.ca_registry.insert_certificate(db, certificate, "PENDING_ACTIVATION", ca_id)
                created = db.execute(
                    "SELECT created_ms FROM certificates WHERE certificate_id = ?",
                    (certificate_id,),
                ).fetchone()["created_ms"]
                events.enqueue(
                    db,
                    REGISTERED_TOPIC.format(ca=ca_id),
                    registered_event(certificate_id, ca_id, created),
                )
                return "just-in-time registered as PENDING_ACTIVATION: connection closed"
        try:
            self.provision(template, certificate, ca_id)
        except ResourceAlreadyExistsException:
            return None  # another connection of this certificate provisioned it meanwhile
        return "just-in-time provisioned from the CA's template: connection closed"

    def _announce_again(self, db: sqlite3.Connection, certificate_id: str, created: int) -> None:
        ca_id, ca = self.ca_registry.ca_of_certificate(certificate_id)
        if ca_id is not None and ca is not None:
            events.enqueue(
                db,
                REGISTERED_TOPIC.format(ca=ca_id),
                registered_event(certificate_id, ca_id, created),
            )
