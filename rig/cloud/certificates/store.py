"""Device certificates: issue (keys + certificate, or from a CSR), status, describe, list.

Private keys are returned to the caller only; the database keeps the certificate PEM.
"""

from __future__ import annotations

import secrets
import sqlite3
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from rig.cloud.certificates.ca import CertificateAuthority, CsrError, IssuedCertificate, serial_of
from rig.cloud.core import arn, events
from rig.cloud.core.errors import (
    CertificateStateException,
    DeleteConflictException,
    InvalidRequestException,
    ResourceNotFoundException,
)
from rig.cloud.core.store import Store
from rig.cloud.registry import THING_NAME

STATUSES = (
    "ACTIVE",
    "INACTIVE",
    "REVOKED",
    "PENDING_TRANSFER",
    "REGISTER_INACTIVE",
    "PENDING_ACTIVATION",
)
SETTABLE = ("ACTIVE", "INACTIVE", "REVOKED")

# The cloud's own broker clients. A device certificate with one of these CNs would connect as
# the cloud service itself (the CN is the username and client id on our broker).
CLOUD_USER = "buttonrig-cloud"
PROBE_USER = "buttonrig-probe"
RESERVED_COMMON_NAMES = (CLOUD_USER, PROBE_USER)

# The guide's 13 certificate attribute names (policy variables iot:Certificate.Subject.<name>).
SUBJECT_ATTRIBUTES = {
    NameOID.DN_QUALIFIER: "DistinguishedNameQualifier",
    NameOID.COUNTRY_NAME: "Country",
    NameOID.ORGANIZATION_NAME: "Organization",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OrganizationalUnit",
    NameOID.STATE_OR_PROVINCE_NAME: "State",
    NameOID.COMMON_NAME: "CommonName",
    NameOID.SERIAL_NUMBER: "SerialNumber",
    NameOID.TITLE: "Title",
    NameOID.SURNAME: "Surname",
    NameOID.GIVEN_NAME: "GivenName",
    NameOID.INITIALS: "Initials",
    NameOID.PSEUDONYM: "Pseudonym",
    NameOID.GENERATION_QUALIFIER: "GenerationQualifier",
}


def common_name_problem(common_name: str) -> str | None:
    """Why `common_name` cannot be a device certificate's CN on our broker; None if it can."""
    if common_name in RESERVED_COMMON_NAMES:
        return f"common name {common_name!r} is reserved for the cloud's own broker clients"
    # Ours, from when the CN was the MQTT client id on our broker; kept: provisioned buttons use
    # their thing name as CN, and the cloud's own identity files are named by CN.
    if not THING_NAME.fullmatch(common_name):
        return (
            f"common name {common_name!r} cannot be an MQTT client id here: 1-128 characters"
            " from [a-zA-Z0-9:_-] (what a thing name may be)"
        )
    return None


def subject_attributes(certificate_pem: str) -> dict[str, str]:
    """The certificate's subject as policy variables see it: name -> first value."""
    subject = x509.load_pem_x509_certificate(certificate_pem.encode()).subject
    found: dict[str, str] = {}
    for attribute in subject:
        name = SUBJECT_ATTRIBUTES.get(attribute.oid)
        if name is not None and name not in found:
            found[name] = str(attribute.value)
    return found


def placeholder_common_name() -> str:
    """CN of a certificate made without a thing name: unique, since the CN is the client id."""
    return f"iotcert-{secrets.token_hex(8)}"


# Component `certificates` of the cloud database (rig/cloud/core/store.py). `IF NOT EXISTS`: a
# database from before the split into services has these tables under `core` already.
CERTIFICATES_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS certificates (
        certificate_id TEXT PRIMARY KEY, pem TEXT NOT NULL, status TEXT NOT NULL,
        serial TEXT NOT NULL, common_name TEXT NOT NULL, created_ms INTEGER NOT NULL,
        modified_ms INTEGER NOT NULL);
    """,
)


class Certificates:
    """The certificate registry (statuses) on top of the CA."""

    def __init__(self, store: Store, ca: CertificateAuthority) -> None:
        self.store = store
        self.ca = ca
        store.migrate("certificates", CERTIFICATES_MIGRATIONS)

    def _record(self, issued: IssuedCertificate, common_name: str, active: bool) -> None:
        now = events.now_ms()
        with self.store.write() as db:
            db.execute(
                "INSERT INTO certificates (certificate_id, pem, status, serial, common_name,"
                " created_ms, modified_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    issued.certificate_id,
                    issued.certificate_pem,
                    "ACTIVE" if active else "INACTIVE",
                    str(serial_of(issued.certificate_pem)),
                    common_name,
                    now,
                    now,
                ),
            )
            self.store.bump(db, "auth_generation")

    def record(self, issued: IssuedCertificate, common_name: str, active: bool) -> None:
        """Keep a certificate signed by the caller (a provisioning template's CSR)."""
        self._record(issued, common_name, active)

    def create_keys_and_certificate(
        self, set_as_active: bool = False, common_name: str | None = None, key_type: str = "EC"
    ) -> tuple[dict[str, Any], IssuedCertificate]:
        """The API response (with keyPair) and the issued material (for DER outputs).

        `common_name` is ours (the CN is the MQTT client id on our broker); AWS has no such
        parameter. `key_type` EC (P-256, default) or RSA (2048, what AWS makes).
        """
        name = common_name or placeholder_common_name()
        problem = common_name_problem(name)
        if problem is not None:
            raise InvalidRequestException(problem)
        try:
            issued = self.ca.issue_client_certificate(name, key_type)
        except ValueError as exc:
            raise InvalidRequestException(str(exc)) from exc
        self._record(issued, name, set_as_active)
        response = {
            "certificateArn": arn.cert_arn(issued.certificate_id),
            "certificateId": issued.certificate_id,
            "certificatePem": issued.certificate_pem,
            "keyPair": {"PublicKey": issued.public_key_pem, "PrivateKey": issued.private_key_pem},
        }
        return response, issued

    def create_certificate_from_csr(
        self, certificate_signing_request: str, set_as_active: bool = False
    ) -> dict[str, Any]:
        """The CSR's subject is kept; one without a CN gets a unique `iotcert-…` CN, since the
        CN is the client id on our broker."""
        try:
            requested = self.ca.csr_common_name(certificate_signing_request)
            common_name = requested or placeholder_common_name()
            problem = common_name_problem(common_name)
            if problem is not None:
                raise InvalidRequestException(problem)
            issued = self.ca.sign_csr(certificate_signing_request, common_name)
        except CsrError as exc:
            raise InvalidRequestException(str(exc)) from exc
        self._record(issued, common_name, set_as_active)
        return {
            "certificateArn": arn.cert_arn(issued.certificate_id),
            "certificateId": issued.certificate_id,
            "certificatePem": issued.certificate_pem,
        }

    def _row(self, db: sqlite3.Connection, certificate_id: str) -> sqlite3.Row:
        # as AWS: an id that cannot be one (64 hex digits) is a bad request, not a missing one
        if len(certificate_id) != 64 or not set(certificate_id) <= set("0123456789abcdefABCDEF"):
            raise InvalidRequestException(
                f"Invalid certificateId {certificate_id!r}: must be 64 hexadecimal characters"
            )
        row = db.execute(
            "SELECT * FROM certificates WHERE certificate_id = ?", (certificate_id,)
        ).fetchone()
        if row is None:
            raise ResourceNotFoundException(f"Certificate {certificate_id} cannot be found.")
        return row

    def update_certificate(self, certificate_id: str, new_status: str) -> dict[str, Any]:
        if new_status not in STATUSES:
            raise InvalidRequestException(
                f"newStatus {new_status!r} is not one of {', '.join(STATUSES)}"
            )
        if new_status == "PENDING_TRANSFER":
            raise CertificateStateException(
                "Setting the status to PENDING_TRANSFER is not allowed"
            )
        if new_status not in SETTABLE:
            raise InvalidRequestException(f"newStatus {new_status} cannot be set here")
        with self.store.write() as db:
            row = self._row(db, certificate_id)
            if row["status"] == "REVOKED" and new_status != "REVOKED":
                raise CertificateStateException(
                    f"Certificate {certificate_id} is REVOKED; a revoked certificate stays revoked"
                )
            db.execute(
                "UPDATE certificates SET status = ?, modified_ms = ? WHERE certificate_id = ?",
                (new_status, events.now_ms(), certificate_id),
            )
            self.store.bump(db, "auth_generation")
        return {}

    def delete_certificate(self, certificate_id: str) -> dict[str, Any]:
        with self.store.write() as db:
            row = self._row(db, certificate_id)
            if row["status"] == "ACTIVE":
                raise CertificateStateException(
                    f"Certificate {certificate_id} is ACTIVE: deactivate it before deleting"
                )
            principal = arn.cert_arn(certificate_id)
            if db.execute(
                "SELECT 1 FROM policy_targets WHERE target = ?", (principal,)
            ).fetchone():
                raise DeleteConflictException(
                    f"Certificate {certificate_id} has policies attached: detach them first"
                )
            db.execute("DELETE FROM thing_principals WHERE principal = ?", (principal,))
            db.execute("DELETE FROM certificates WHERE certificate_id = ?", (certificate_id,))
            self.store.bump(db, "auth_generation")
        return {}

    def describe_certificate(self, certificate_id: str) -> dict[str, Any]:
        row = self._row(self.store.read(), certificate_id)
        return {
            "certificateDescription": {
                "certificateArn": arn.cert_arn(row["certificate_id"]),
                "certificateId": row["certificate_id"],
                "status": row["status"],
                "certificatePem": row["pem"],
                "ownedBy": arn.ACCOUNT,
                "creationDate": row["created_ms"] / 1000.0,
                "lastModifiedDate": row["modified_ms"] / 1000.0,
                "customerVersion": 1,
                "generationId": row["serial"],
                "validity": {"notBefore": row["created_ms"] / 1000.0, "notAfter": 4102358400.0},
                "certificateMode": "DEFAULT",
            }
        }

    def list_certificates(self) -> dict[str, Any]:
        rows = self.store.read().execute("SELECT * FROM certificates ORDER BY created_ms")
        return {
            "certificates": [
                {
                    "certificateArn": arn.cert_arn(r["certificate_id"]),
                    "certificateId": r["certificate_id"],
                    "status": r["status"],
                    "certificateMode": "DEFAULT",
                    "creationDate": r["created_ms"] / 1000.0,
                }
                for r in rows.fetchall()
            ]
        }

    def all_rows(self) -> list[sqlite3.Row]:
        return self.store.read().execute("SELECT * FROM certificates").fetchall()
