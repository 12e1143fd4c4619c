"""CA certificates registered by their owner, and device certificates registered under them.

As the guide ("Registering Your CA Certificate", RegisterCACertificate, RegisterCertificate,
UpdateCACertificate, "Deactivate the CA Certificate"):

* one registration code per account (`get-registration-code`); a CA is registered with a
  verification certificate whose Common Name is that code and which the CA signed;
* a CA is ACTIVE or INACTIVE, its auto-registration ENABLE or DISABLE, and it may carry a
  registration config (a provisioning template and a role: just-in-time provisioning);
* a device certificate is registered under the CA that signed it (not while that CA is
  INACTIVE); certificates registered without a CA are SNI_ONLY.

Device certificates live in the certificates table of rig/cloud/certificates/store.py (one
certificate registry); the CA each came from is kept here (`certificate_cas`).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from typing import Any

from cryptography import x509

from rig.cloud.ca_registration import pem
from rig.cloud.certificates.store import STATUSES
from rig.cloud.core import arn, events
from rig.cloud.core.errors import (
    CertificateConflictException,
    CertificateStateException,
    CertificateValidationException,
    InvalidRequestException,
    LimitExceededException,
    RegistrationCodeValidationException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
)
from rig.cloud.core.store import Store

CA_STATUSES = ("ACTIVE", "INACTIVE")
AUTO_REGISTRATION_STATUSES = ("ENABLE", "DISABLE")
# "You can register up to 10 CA certificates with the same subject field per AWS account"
MAX_CAS_PER_SUBJECT = 10
ROLE_ARN_LENGTH = (20, 2048)
PAGE_SIZE_MAX = 250  # RegistrationConfig.roleArn "length max:2048 min:20"

CA_REGISTRATION_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE ca_certificates (
        ca_certificate_id TEXT PRIMARY KEY, pem TEXT NOT NULL, subject TEXT NOT NULL,
        status TEXT NOT NULL, auto_registration TEXT NOT NULL, template_body TEXT,
        role_arn TEXT, created_ms INTEGER NOT NULL, modified_ms INTEGER NOT NULL);
    CREATE TABLE registration_code (
        account INTEGER PRIMARY KEY CHECK (account = 1), code TEXT NOT NULL);
    CREATE TABLE certificate_cas (
        certificate_id TEXT PRIMARY KEY, ca_certificate_id TEXT, mode TEXT NOT NULL);
    """,
)


def ca_arn(ca_certificate_id: str) -> str:
    return f"arn:aws:iot:{arn.REGION}:{arn.ACCOUNT}:cacert/{ca_certificate_id}"


def _check_id(certificate_id: str) -> None:
    # "length max:64 min:64 pattern: (0x)?[a-fA-F0-9]+"
    if len(certificate_id) != 64 or not set(certificate_id) <= set("0123456789abcdefABCDEF"):
        raise InvalidRequestException(
            f"Invalid certificateId {certificate_id!r}: must be 64 hexadecimal characters"
        )


def marker_page(
    items: list[dict[str, Any]], page_size: int | None, marker: str | None
) -> dict[str, Any]:
    """ListCACertificates / ListCertificatesByCA paging: `pageSize` (PageSize 1-250), `marker`
    from the last page's `nextMarker` (ours: an offset; AWS's is opaque)."""
    if page_size is not None and not 1 <= page_size <= PAGE_SIZE_MAX:
        raise InvalidRequestException(f"pageSize must be 1 to {PAGE_SIZE_MAX}, got {page_size}")
    start = 0
    if marker:
        if not (marker.isascii() and marker.isdigit()):
            raise InvalidRequestException(f"invalid marker {marker!r}")
        start = int(marker)
    end = len(items) if page_size is None else start + page_size
    result: dict[str, Any] = {"certificates": items[start:end]}
    if end < len(items):
        result["nextMarker"] = str(end)
    return result


def check_registration_config(config: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """(templateBody, roleArn) of a RegistrationConfig; the template must be a JSON object."""
    if config is None:
        return None, None
    if not isinstance(config, dict) or set(config) - {"templateBody", "roleArn"}:
        raise InvalidRequestException(
            "registrationConfig takes templateBody and roleArn, got"
            f" {sorted(config) if isinstance(config, dict) else type(config).__name__}"
        )
    template, role = config.get("templateBody"), config.get("roleArn")
    if template is not None:
        try:
            parsed = json.loads(template) if isinstance(template, str) else None
        except json.JSONDecodeError as exc:
            raise InvalidRequestException(f"templateBody is not valid JSON: {exc}") from exc
        if not isinstance(parsed, dict) or not isinstance(parsed.get("Resources"), dict):
            raise InvalidRequestException(
                "templateBody must be a JSON object with a Resources object"
            )
    if role is not None and not (
        isinstance(role, str) and ROLE_ARN_LENGTH[0] <= len(role) <= ROLE_ARN_LENGTH[1]
    ):
        raise InvalidRequestException("roleArn must be a string of 20 to 2048 characters")
    return template, role


class CaRegistry:
    """Registered CA certificates and the device certificates registered under them."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.migrate("ca_registration", CA_REGISTRATION_MIGRATIONS)

    # ---- the registration code ---------------------------------------------------------------

    def get_registration_code(self) -> dict[str, Any]:
        """One per account, made at the first call and the same ever after."""
        with self.store.write() as db:
            row = db.execute("SELECT code FROM registration_code").fetchone()
            if row is None:
                code = secrets.token_hex(32)  # AWS's are 64 hexadecimal digits
                db.execute("INSERT INTO registration_code (account, code) VALUES (1, ?)", (code,))
                return {"registrationCode": code}
        return {"registrationCode": row["code"]}

    # ---- CA certificates ---------------------------------------------------------------------

    def register_ca_certificate(
        self,
        ca_certificate: str,
        verification_certificate: str,
        set_as_active: bool = False,
        allow_auto_registration: bool = False,
        registration_config: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        ca = pem.load(ca_certificate, "CA certificate")
        verification = pem.load(verification_certificate, "verification certificate")
        template, role = check_registration_config(registration_config)
        if not pem.is_ca(ca):
            raise CertificateValidationException(
                "The CA certificate is not a CA: its basicConstraints do not say CA:TRUE"
            )
        if not pem.signed_by(ca, ca):
            raise CertificateValidationException("The CA certificate is not self-signed")
        ca_id = pem.id_of(ca)
        now = events.now_ms()
        with self.store.write() as db:
            code = db.execute("SELECT code FROM registration_code").fetchone()
            if code is None or pem.common_name(verification) != code["code"]:
                raise RegistrationCodeValidationException("The registration code is invalid.")
            if not pem.signed_by(verification, ca):
                raise CertificateValidationException(
                    "The verification certificate is not signed by the CA certificate"
                )
            if self._ca(db, ca_id, missing_ok=True) is not None:
                raise ResourceAlreadyExistsException(
                    f"The CA certificate {ca_id} is already registered"
                )
            subject = ca.subject.rfc4514_string()
            same = db.execute(
                "SELECT COUNT(*) FROM ca_certificates WHERE subject = ?", (subject,)
            ).fetchone()[0]
            if same >= MAX_CAS_PER_SUBJECT:
                raise LimitExceededException(
                    f"{MAX_CAS_PER_SUBJECT} CA certificates with subject {subject} are registered"
                )
            db.execute(
                "INSERT INTO ca_certificates (ca_certificate_id, pem, subject, status,"
                " auto_registration, template_body, role_arn, created_ms, modified_ms)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    ca_id,
                    pem.pem_of(ca),
                    subject,
                    "ACTIVE" if set_as_active else "INACTIVE",
                    "ENABLE" if allow_auto_registration else "DISABLE",
                    template,
                    role,
                    now,
                    now,
                ),
            )
            self.store.bump(db, "auth_generation")  # the broker's trust follows the CAs
        return {"certificateArn": ca_arn(ca_id), "certificateId": ca_id}

    def _ca(
        self, db: sqlite3.Connection, ca_certificate_id: str, missing_ok: bool = False
    ) -> Any:  # a Row; None only when missing_ok
        row = db.execute(
            "SELECT * FROM ca_certificates WHERE ca_certificate_id = ?", (ca_certificate_id,)
        ).fetchone()
        if row is None and not missing_ok:
            raise ResourceNotFoundException(
                f"The CA certificate {ca_certificate_id} cannot be found."
            )
        return row

    def describe_ca_certificate(self, certificate_id: str) -> dict[str, Any]:
        _check_id(certificate_id)
        row = self._ca(self.store.read(), certificate_id)
        certificate = pem.load(row["pem"], "CA certificate")
        response: dict[str, Any] = {
            "certificateDescription": {
                "certificateArn": ca_arn(row["ca_certificate_id"]),
                "certificateId": row["ca_certificate_id"],
                "status": row["status"],
                "certificatePem": row["pem"],
                "ownedBy": arn.ACCOUNT,
                "creationDate": row["created_ms"] / 1000.0,
                "autoRegistrationStatus": row["auto_registration"],
                "lastModifiedDate": row["modified_ms"] / 1000.0,
                "customerVersion": 1,
                "generationId": str(certificate.serial_number),
                "validity": {
                    "notBefore": certificate.not_valid_before_utc.timestamp(),
                    "notAfter": certificate.not_valid_after_utc.timestamp(),
                },
                "certificateMode": "DEFAULT",
            }
        }
        config = {
            key: value
            for key, value in (
                ("templateBody", row["template_body"]),
                ("roleArn", row["role_arn"]),
            )
            if value is not None
        }
        if config:
            response["registrationConfig"] = config
        return response

    def list_ca_certificates(
        self,
        page_size: int | None = None,
        marker: str | None = None,
        ascending_order: bool = False,
    ) -> dict[str, Any]:
        order = "ASC" if ascending_order else "DESC"
        rows = self.store.read().execute(
            f"SELECT * FROM ca_certificates ORDER BY created_ms {order}, rowid {order}"
        )
        items = [
            {
                "certificateArn": ca_arn(r["ca_certificate_id"]),
                "certificateId": r["ca_certificate_id"],
                "status": r["status"],
                "creationDate": r["created_ms"] / 1000.0,
            }
            for r in rows.fetchall()
        ]
        return marker_page(items, page_size, marker)

    def update_ca_certificate(
        self,
        certificate_id: str,
        new_status: str | None = None,
        new_auto_registration_status: str | None = None,
        registration_config: dict[str, Any] | None = None,
        remove_auto_registration: bool = False,
    ) -> dict[str, Any]:
        _check_id(certificate_id)
        if new_status is not None and new_status not in CA_STATUSES:
            raise InvalidRequestException(
                f"newStatus {new_status!r} is not one of {', '.join(CA_STATUSES)}"
            )
        if (
            new_auto_registration_status is not None
            and new_auto_registration_status not in AUTO_REGISTRATION_STATUSES
        ):
            raise InvalidRequestException(
                f"newAutoRegistrationStatus {new_auto_registration_status!r} is not one of"
                f" {', '.join(AUTO_REGISTRATION_STATUSES)}"
            )
        if remove_auto_registration and registration_config is not None:
            raise InvalidRequestException(
                "removeAutoRegistration and registrationConfig cannot be given together"
            )
        template, role = check_registration_config(registration_config)
        with self.store.write() as db:
            row = self._ca(db, certificate_id)
            if remove_auto_registration:  # the workshop: "the provision template and role
                template = role = None  # arn have been removed"
            elif registration_config is None:
                template, role = row["template_body"], row["role_arn"]
            db.execute(
                "UPDATE ca_certificates SET status = ?, auto_registration = ?,"
                " template_body = ?, role_arn = ?, modified_ms = ? WHERE ca_certificate_id = ?",
                (
                    new_status or row["status"],
                    new_auto_registration_status or row["auto_registration"],
                    template,
                    role,
                    events.now_ms(),
                    certificate_id,
                ),
            )
            self.store.bump(db, "auth_generation")
        return {}

    def delete_ca_certificate(self, certificate_id: str) -> dict[str, Any]:
        """Only an INACTIVE CA (CertificateStateException otherwise; the workshop deactivates
        first). Certificates registered under it stay registered (decision A-4)."""
        _check_id(certificate_id)
        with self.store.write() as db:
            row = self._ca(db, certificate_id)
            if row["status"] == "ACTIVE":
                raise CertificateStateException(
                    f"The CA certificate {certificate_id} is ACTIVE: deactivate it before deleting"
                )
            db.execute(
                "DELETE FROM ca_certificates WHERE ca_certificate_id = ?", (certificate_id,)
            )
            self.store.bump(db, "auth_generation")
        return {}

    def list_certificates_by_ca(
        self,
        ca_certificate_id: str,
        ascending_order: bool = False,
        page_size: int | None = None,
        marker: str | None = None,
    ) -> dict[str, Any]:
        _check_id(ca_certificate_id)
        db = self.store.read()
        self._ca(db, ca_certificate_id)
        order = "ASC" if ascending_order else "DESC"
        rows = db.execute(
            "SELECT c.* FROM certificates c JOIN certificate_cas l USING (certificate_id)"
            f" WHERE l.ca_certificate_id = ? ORDER BY c.created_ms {order}, c.rowid {order}",
            (ca_certificate_id,),
        )
        items = [
            {
                "certificateArn": arn.cert_arn(r["certificate_id"]),
                "certificateId": r["certificate_id"],
                "status": r["status"],
                "certificateMode": "DEFAULT",
                "creationDate": r["created_ms"] / 1000.0,
            }
            for r in rows.fetchall()
        ]
        return marker_page(items, page_size, marker)

    def registered_cas(self) -> list[tuple[str, str]]:
        """(id, PEM) of every registered CA: what the broker's TLS layer trusts (A-2)."""
        rows = self.store.read().execute("SELECT ca_certificate_id, pem FROM ca_certificates")
        return [(r["ca_certificate_id"], r["pem"]) for r in rows.fetchall()]

    def issuer_of(
        self, db: sqlite3.Connection, certificate: x509.Certificate
    ) -> sqlite3.Row | None:
        """The registered CA that signed `certificate`; CertificateConflictException when more
        than one (same subject and key) could have (the guide's RegisterCertificate)."""
        candidates = db.execute(
            "SELECT * FROM ca_certificates WHERE subject = ?",
            (certificate.issuer.rfc4514_string(),),
        ).fetchall()
        signers = [r for r in candidates if pem.signed_by(certificate, pem.load(r["pem"], "CA"))]
        if len(signers) > 1:
            raise CertificateConflictException(
                "Unable to verify the CA certificate used to sign the device certificate you"
                " are attempting to register: more than one registered CA certificate has the"
                " same subject field and public key"
            )
        return signers[0] if signers else None

    def ca_of_certificate(self, certificate_id: str) -> tuple[str | None, sqlite3.Row | None]:
        """(the id of the CA a device certificate was registered under, its row or None when
        that CA was deleted); (None, None) for the cloud's own certificates."""
        db = self.store.read()
        link = db.execute(
            "SELECT ca_certificate_id FROM certificate_cas WHERE certificate_id = ?",
            (certificate_id,),
        ).fetchone()
        if link is None or link["ca_certificate_id"] is None:
            return None, None
        return link["ca_certificate_id"], self._ca(db, link["ca_certificate_id"], missing_ok=True)

    # ---- device certificates -----------------------------------------------------------------

    def register_certificate(
        self,
        certificate_pem: str,
        ca_certificate_pem: str | None = None,
        set_as_active: bool | None = None,
        status: str | None = None,
    ) -> dict[str, Any]:
        certificate = pem.load(certificate_pem, "certificate")
        chosen = self._status(status, set_as_active)
        with self.store.write() as db:
            certificate_id = self.insert_ca_signed(db, certificate, ca_certificate_pem, chosen)
        return {"certificateArn": arn.cert_arn(certificate_id), "certificateId": certificate_id}

    def insert_ca_signed(
        self,
        db: sqlite3.Connection,
        certificate: x509.Certificate,
        ca_certificate_pem: str | None,
        status: str,
    ) -> str:
        """Register a device certificate an ACTIVE registered CA signed (RegisterCertificate,
        and a provisioning template's CertificatePem/CACertificatePem) in the caller's
        transaction; its id."""
        named_ca = pem.load(ca_certificate_pem, "CA certificate") if ca_certificate_pem else None
        if named_ca is not None:
            ca = self._ca(db, pem.id_of(named_ca), missing_ok=True)
            if ca is None:
                raise CertificateValidationException("The CA certificate is not registered")
            if not pem.signed_by(certificate, named_ca):
                raise CertificateValidationException(
                    "The certificate is not signed by the given CA certificate"
                )
        else:
            ca = self.issuer_of(db, certificate)
            if ca is None:
                raise CertificateValidationException(
                    "The certificate is not signed by a registered CA certificate"
                )
        if ca["status"] != "ACTIVE":
            raise CertificateStateException(
                f"The CA certificate {ca['ca_certificate_id']} is INACTIVE: no device"
                " certificate can be registered under it"
            )
        return self.insert_certificate(db, certificate, status, ca["ca_certificate_id"])

    def register_certificate_without_ca(
        self, certificate_pem: str, status: str | None = None
    ) -> dict[str, Any]:
        certificate = pem.load(certificate_pem, "certificate")
        chosen = self._status(status, None)
        with self.store.write() as db:
            certificate_id = self.insert_certificate(db, certificate, chosen, None)
        return {"certificateArn": arn.cert_arn(certificate_id), "certificateId": certificate_id}

    @staticmethod
    def _status(status: str | None, set_as_active: bool | None) -> str:
        if status is not None:
            if status not in STATUSES:
                raise InvalidRequestException(
                    f"status {status!r} is not one of {', '.join(STATUSES)}"
                )
            return status
        return "ACTIVE" if set_as_active else "INACTIVE"

    def insert_certificate(
        self,
        db: sqlite3.Connection,
        certificate: x509.Certificate,
        status: str,
        ca_certificate_id: str | None,
    ) -> str:
        """Register a device certificate inside the caller's transaction; its id."""
        certificate_id = pem.id_of(certificate)
        if db.execute(
            "SELECT 1 FROM certificates WHERE certificate_id = ?", (certificate_id,)
        ).fetchone():
            raise ResourceAlreadyExistsException(
                f"The certificate {certificate_id} is already registered"
            )
        now = events.now_ms()
        db.execute(
            "INSERT INTO certificates (certificate_id, pem, status, serial, common_name,"
            " created_ms, modified_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                certificate_id,
                pem.pem_of(certificate),
                status,
                str(certificate.serial_number),
                pem.common_name(certificate) or "",
                now,
                now,
            ),
        )
        db.execute(
            "INSERT OR REPLACE INTO certificate_cas (certificate_id, ca_certificate_id, mode)"
            " VALUES (?, ?, ?)",
            (certificate_id, ca_certificate_id, "DEFAULT" if ca_certificate_id else "SNI_ONLY"),
        )
        self.store.bump(db, "auth_generation")
        return certificate_id

    def certificate_mode(self, certificate_id: str) -> tuple[str | None, str]:
        """(caCertificateId, certificateMode) of a certificate, as DescribeCertificate shows."""
        row = (
            self.store.read()
            .execute(
                "SELECT ca_certificate_id, mode FROM certificate_cas WHERE certificate_id = ?",
                (certificate_id,),
            )
            .fetchone()
        )
        return (row["ca_certificate_id"], row["mode"]) if row else (None, "DEFAULT")
