"""The certificates' control-plane API, mixed into the `Cloud` facade (rig/cloud/api.py)."""

from __future__ import annotations

from typing import Any

from rig.cloud.certificates.ca import CertificateAuthority, IssuedCertificate
from rig.cloud.certificates.store import Certificates
from rig.cloud.core.control_plane import ControlPlane


class CertificatesApi(ControlPlane):
    ca: CertificateAuthority
    certificates: Certificates

    def create_keys_and_certificate(
        self, set_as_active: bool = False, common_name: str | None = None, key_type: str = "EC"
    ) -> dict[str, Any]:
        """The AWS response, keyPair included (the only time the private key is given out)."""
        response, _ = self.issue_keys_and_certificate(set_as_active, common_name, key_type)
        return response

    def issue_keys_and_certificate(
        self, set_as_active: bool = False, common_name: str | None = None, key_type: str = "EC"
    ) -> tuple[dict[str, Any], IssuedCertificate]:
        """Like create_keys_and_certificate, plus the issued material (DER forms)."""
        response, issued = self.certificates.create_keys_and_certificate(
            set_as_active, common_name, key_type
        )
        self._auth_changed()
        return response, issued

    def create_certificate_from_csr(
        self, certificate_signing_request: str, set_as_active: bool = False
    ) -> dict[str, Any]:
        return self._mutating(
            self.certificates.create_certificate_from_csr(
                certificate_signing_request, set_as_active
            )
        )

    def update_certificate(self, certificate_id: str, new_status: str) -> dict[str, Any]:
        return self._mutating(self.certificates.update_certificate(certificate_id, new_status))

    def delete_certificate(self, certificate_id: str) -> dict[str, Any]:
        return self._mutating(self.certificates.delete_certificate(certificate_id))

    def describe_certificate(self, certificate_id: str) -> dict[str, Any]:
        return self.certificates.describe_certificate(certificate_id)

    def list_certificates(self) -> dict[str, Any]:
        return self.certificates.list_certificates()
