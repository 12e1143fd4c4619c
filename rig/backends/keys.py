"""A device key and its certificate signing request, made on the host as a customer's tooling
would (openssl's `ecparam -genkey` + `req -new`), so the private key never leaves this machine:
the cloud signs the CSR (CreateCertificateFromCsr) on either backend."""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class KeyAndCsr:
    csr_pem: str
    private_key_pem: str = field(repr=False)
    private_key_der: bytes = field(repr=False)


def new_key_and_csr(common_name: str) -> KeyAndCsr:
    """An EC P-256 key (what the firmware's mbedTLS handles fastest) and a CSR with this CN."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
    )
    pkcs8 = serialization.PrivateFormat.PKCS8
    none = serialization.NoEncryption()
    return KeyAndCsr(
        csr.public_bytes(serialization.Encoding.PEM).decode(),
        key.private_bytes(serialization.Encoding.PEM, pkcs8, none).decode(),
        key.private_bytes(serialization.Encoding.DER, pkcs8, none),
    )
