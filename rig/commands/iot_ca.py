"""`buttonrig iot …` for your own CA: get-registration-code, register-ca-certificate,
describe-/list-/update-/delete-ca-certificate, list-certificates-by-ca, register-certificate and
register-certificate-without-ca, with aws-cli's option names and botocore's shapes (service model
iot/2015-05-28). Part of `buttonrig iot` (rig/commands/iot.py adds them to its list)."""

from __future__ import annotations

from rig.commands.awscli import Operation, Param
from rig.commands.shapes import STRING, structure

CA_ID = Param("--certificate-id", required=True, aliases=("--cert-id",))
REGISTRATION_CONFIG = Param(
    "--registration-config",
    "structure",
    shape=structure(templateBody=STRING, roleArn=STRING),
    help='{"templateBody": "<provisioning template JSON>", "roleArn": "…"}: JITP',
)
# ours: one page of pageSize (1-250) from --marker (the last page's nextMarker); aws-cli itself
# follows nextMarker unless given --page-size/--starting-token
PAGING = (
    Param("--page-size", "integer"),
    Param("--marker"),
    Param("--ascending-order", "boolean"),
)
STATUS_CHOICES = (
    "ACTIVE",
    "INACTIVE",
    "REVOKED",
    "PENDING_TRANSFER",
    "REGISTER_INACTIVE",
    "PENDING_ACTIVATION",
)

CA_OPERATIONS = [
    Operation(
        "get-registration-code",
        "GetRegistrationCode",
        (),
        lambda c, _kw: c.get_registration_code(),
    ),
    Operation(
        "register-ca-certificate",
        "RegisterCACertificate",
        (
            Param("--ca-certificate", "text", required=True),
            Param(
                "--verification-certificate",
                "text",
                required=True,
                aliases=("--verification-cert",),
            ),
            Param("--set-as-active", "boolean"),
            Param("--allow-auto-registration", "boolean"),
            REGISTRATION_CONFIG,
        ),
        lambda c, kw: c.register_ca_certificate(
            kw["ca_certificate"],
            kw["verification_certificate"],
            bool(kw.get("set_as_active")),
            bool(kw.get("allow_auto_registration")),
            kw.get("registration_config"),
        ),
    ),
    Operation(
        "describe-ca-certificate",
        "DescribeCACertificate",
        (CA_ID,),
        lambda c, kw: c.describe_ca_certificate(**kw),
    ),
    Operation(
        "list-ca-certificates",
        "ListCACertificates",
        PAGING,
        lambda c, kw: c.list_ca_certificates(
            kw.get("page_size"), kw.get("marker"), bool(kw.get("ascending_order"))
        ),
    ),
    Operation(
        "update-ca-certificate",
        "UpdateCACertificate",
        (
            CA_ID,
            Param("--new-status", choices=("ACTIVE", "INACTIVE")),
            Param("--new-auto-registration-status", choices=("ENABLE", "DISABLE")),
            REGISTRATION_CONFIG,
            Param("--remove-auto-registration", "boolean"),
        ),
        lambda c, kw: c.update_ca_certificate(
            kw["certificate_id"],
            kw.get("new_status"),
            kw.get("new_auto_registration_status"),
            kw.get("registration_config"),
            bool(kw.get("remove_auto_registration")),
        ),
    ),
    Operation(
        "delete-ca-certificate",
        "DeleteCACertificate",
        (CA_ID,),
        lambda c, kw: c.delete_ca_certificate(**kw),
    ),
    Operation(
        "list-certificates-by-ca",
        "ListCertificatesByCA",
        (Param("--ca-certificate-id", required=True), *PAGING),
        lambda c, kw: c.list_certificates_by_ca(
            kw["ca_certificate_id"],
            bool(kw.get("ascending_order")),
            kw.get("page_size"),
            kw.get("marker"),
        ),
    ),
    Operation(
        "register-certificate",
        "RegisterCertificate",
        (
            Param("--certificate-pem", "text", required=True),
            Param("--ca-certificate-pem", "text"),
            Param("--set-as-active", "boolean"),
            Param("--status", choices=STATUS_CHOICES),
        ),
        lambda c, kw: c.register_certificate(
            kw["certificate_pem"],
            kw.get("ca_certificate_pem"),
            kw.get("set_as_active"),
            kw.get("status"),
        ),
    ),
    Operation(
        "register-certificate-without-ca",
        "RegisterCertificateWithoutCA",
        (
            Param("--certificate-pem", "text", required=True),
            Param("--status", choices=STATUS_CHOICES),
        ),
        lambda c, kw: c.register_certificate_without_ca(kw["certificate_pem"], kw.get("status")),
    ),
]
