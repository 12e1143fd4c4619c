"""Your own CA's control-plane API, mixed into the `Cloud` facade (rig/cloud/api.py), ahead of
the certificates' API: DescribeCertificate also says which CA a certificate came from."""

from __future__ import annotations

from typing import Any

from rig.cloud.ca_registration.store import CaRegistry
from rig.cloud.certificates.store import Certificates
from rig.cloud.core.control_plane import ControlPlane


class CaRegistrationApi(ControlPlane):
    ca_registry: CaRegistry
    certificates: Certificates

    def get_registration_code(self) -> dict[str, Any]:
        return self.ca_registry.get_registration_code()

    def register_ca_certificate(
        self,
        ca_certificate: str,
        verification_certificate: str,
        set_as_active: bool = False,
        allow_auto_registration: bool = False,
        registration_config: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return self._mutating(
            self.ca_registry.register_ca_certificate(
                ca_certificate,
                verification_certificate,
                set_as_active,
                allow_auto_registration,
                registration_config,
            )
        )

    def describe_ca_certificate(self, certificate_id: str) -> dict[str, Any]:
        return self.ca_registry.describe_ca_certificate(certificate_id)

    def list_ca_certificates(
        self,
        page_size: int | None = None,
        marker: str | None = None,
        ascending_order: bool = False,
    ) -> dict[str, Any]:
        return self.ca_registry.list_ca_certificates(page_size, marker, ascending_order)

    def update_ca_certificate(
        self,
        certificate_id: str,
        new_status: str | None = None,
        new_auto_registration_status: str | None = None,
        registration_config: dict[str, Any] | None = None,
        remove_auto_registration: bool = False,
    ) -> dict[str, Any]:
        return self._mutating(
            self.ca_registry.update_ca_certificate(
                certificate_id,
                new_status,
                new_auto_registration_status,
                registration_config,
                remove_auto_registration,
            )
        )

    def delete_ca_certificate(self, certificate_id: str) -> dict[str, Any]:
        return self._mutating(self.ca_registry.delete_ca_certificate(certificate_id))

    def list_certificates_by_ca(
        self,
        ca_certificate_id: str,
        ascending_order: bool = False,
        page_size: int | None = None,
        marker: str | None = None,
    ) -> dict[str, Any]:
        return self.ca_registry.list_certificates_by_ca(
            ca_certificate_id, ascending_order, page_size, marker
        )

    def register_certificate(
        self,
        certificate_pem: str,
        ca_certificate_pem: str | None = None,
        set_as_active: bool | None = None,
        status: str | None = None,
    ) -> dict[str, Any]:
        return self._mutating(
            self.ca_registry.register_certificate(
                certificate_pem, ca_certificate_pem, set_as_active, status
            )
        )

    def register_certificate_without_ca(
        self, certificate_pem: str, status: str | None = None
    ) -> dict[str, Any]:
        return self._mutating(
            self.ca_registry.register_certificate_without_ca(certificate_pem, status)
        )

    def describe_certificate(self, certificate_id: str) -> dict[str, Any]:
        described = self.certificates.describe_certificate(certificate_id)
        ca_id, mode = self.ca_registry.certificate_mode(certificate_id)
        description = described["certificateDescription"]
        if ca_id is not None:
            description["caCertificateId"] = ca_id
        description["certificateMode"] = mode
        return described
