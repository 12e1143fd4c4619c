"""Just-in-time provisioning (JITP) on the provisioning template engine: "AWS IoT loads the
template from the CA certificate and uses it to call RegisterThing. The JITP workflow first
registers a certificate with a status value of PENDING_ACTIVATION. When the device provisioning
flow is complete, the status of the certificate is changed to ACTIVE" (guide "Just-in-time
provisioning").

The template's parameters are the guide's built-in `AWS::IoT::Certificate::*`, read from the
connecting certificate's subject ("The certificate must contain values for all of the parameters
in the template body"); the template is the same language as RegisterThing's (engine.py). The
certificate is registered under its CA and the template applied in ONE transaction: a template
that cannot be applied leaves nothing, not even the certificate (docs/cloud-decisions.md A-7).
"""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import NameOID

from rig.cloud.ca_registration import pem
from rig.cloud.core.errors import InvalidRequestException
from rig.cloud.provisioning.engine import TemplateError, parse_template, resolve
from rig.cloud.provisioning.provisioner import Provisioner

CERTIFICATE_ID = "AWS::IoT::Certificate::Id"
# the guide's built-in parameters -> the subject attribute each is read from
SUBJECT_PARAMETERS = {
    "AWS::IoT::Certificate::Country": NameOID.COUNTRY_NAME,
    "AWS::IoT::Certificate::Organization": NameOID.ORGANIZATION_NAME,
    "AWS::IoT::Certificate::OrganizationalUnit": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "AWS::IoT::Certificate::DistinguishedNameQualifier": NameOID.DN_QUALIFIER,
    "AWS::IoT::Certificate::StateName": NameOID.STATE_OR_PROVINCE_NAME,
    "AWS::IoT::Certificate::CommonName": NameOID.COMMON_NAME,
    "AWS::IoT::Certificate::SerialNumber": NameOID.SERIAL_NUMBER,
}


def built_in_parameters(certificate: x509.Certificate) -> dict[str, str]:
    """The values JITP can give a template: the certificate's id and its subject's fields
    (a field the subject lacks is absent: a template declaring it is refused)."""
    found = {CERTIFICATE_ID: pem.id_of(certificate)}
    for name, oid in SUBJECT_PARAMETERS.items():
        values = certificate.subject.get_attributes_for_oid(oid)
        if values:
            found[name] = str(values[0].value)
    return found


class JustInTimeProvisioner:
    """`provision(template_body, certificate, ca_certificate_id)` at a first connection."""

    def __init__(self, provisioner: Provisioner) -> None:
        self.provisioner = provisioner

    def provision(
        self, template_body: str, certificate: x509.Certificate, ca_certificate_id: str
    ) -> None:
        certificate_id = pem.id_of(certificate)
        try:
            plan = resolve(parse_template(template_body), built_in_parameters(certificate))
        except TemplateError as exc:
            raise InvalidRequestException(f"the CA's provisioning template: {exc}") from exc
        wanted = plan.certificate
        if wanted is None or wanted.csr is not None or wanted.certificate_pem is not None:
            raise InvalidRequestException(
                "a JITP template's certificate resource is the connecting certificate:"
                ' {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}}'
            )
        if wanted.certificate_id != certificate_id:
            raise InvalidRequestException(
                "the template's CertificateId is not the connecting certificate's id"
            )
        ca_registry = self.provisioner.ca_registry
        with self.provisioner.store.write() as db:
            ca_registry.insert_certificate(
                db, certificate, "PENDING_ACTIVATION", ca_certificate_id
            )
            self.provisioner.provision(plan)
            # "When the device provisioning flow is complete, the status of the certificate is
            # changed to ACTIVE" (or to the template's Status)
            final = wanted.status or "ACTIVE"
            self.provisioner.certificates.update_certificate(certificate_id, final)
