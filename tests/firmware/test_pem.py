"""firmware/pem.py under CPython: PEM -> DER and the cheap key/certificate checks."""

from __future__ import annotations

import datetime
import importlib
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "firmware"))
pem = importlib.import_module("pem")

PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER
PKCS8 = serialization.PrivateFormat.PKCS8
TRAD = serialization.PrivateFormat.TraditionalOpenSSL
NOENC = serialization.NoEncryption()

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def make_cert(key: PrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "G030JF055364XVRB")])
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 2048)


@pytest.mark.parametrize("kind", ["ec", "rsa"])
@pytest.mark.parametrize("fmt", [PKCS8, TRAD])
def test_pem_and_der_inputs_give_the_same_der(
    kind: str, fmt: serialization.PrivateFormat, ec_key: PrivateKey, rsa_key: PrivateKey
) -> None:
    key = ec_key if kind == "ec" else rsa_key
    cert = make_cert(key)
    cert_der = cert.public_bytes(DER)
    key_der = key.private_bytes(DER, fmt, NOENC)
    assert pem.certificate(cert.public_bytes(PEM)) == cert_der
    assert pem.certificate(cert_der) == cert_der
    assert pem.private_key(key.private_bytes(PEM, fmt, NOENC)) == key_der
    assert pem.private_key(key_der) == key_der
    pem.check_pair(cert_der, key_der)  # matching pair passes


def test_windows_line_endings_and_surrounding_text_are_accepted(ec_key: PrivateKey) -> None:
    cert = make_cert(ec_key)
    text = b"Bag Attributes\r\n" + cert.public_bytes(PEM).replace(b"\n", b"\r\n") + b"\r\n\x00"
    assert pem.certificate(text) == cert.public_bytes(DER)


@pytest.mark.parametrize("fmt", [PKCS8, TRAD])
def test_a_key_from_another_pair_is_refused(
    fmt: serialization.PrivateFormat, ec_key: PrivateKey, rsa_key: PrivateKey
) -> None:
    for key in (ec_key, rsa_key):
        other = (
            ec.generate_private_key(ec.SECP256R1())
            if isinstance(key, ec.EllipticCurvePrivateKey)
            else rsa.generate_private_key(65537, 2048)
        )
        cert_der = make_cert(key).public_bytes(DER)
        with pytest.raises(pem.PemError, match="does not match"):
            pem.check_pair(cert_der, other.private_bytes(DER, fmt, NOENC))
    with pytest.raises(pem.PemError, match="does not match"):  # EC cert, RSA key
        pem.check_pair(make_cert(ec_key).public_bytes(DER), rsa_key.private_bytes(DER, fmt, NOENC))


def test_malformed_inputs_get_clear_errors(ec_key: PrivateKey) -> None:
    cert_pem = make_cert(ec_key).public_bytes(PEM)
    key_pem = ec_key.private_bytes(PEM, PKCS8, NOENC)
    cases = {
        b"": "neither PEM nor DER",
        b"hello world": "neither PEM nor DER",
        cert_pem[: len(cert_pem) // 2]: "END line missing",
        cert_pem.replace(b"MII", b"M!I", 1): "base64|DER",
        key_pem: "expected CERTIFICATE",
        cert_pem.replace(b"\n", b"", 3)[:40] + b"-----END CERTIFICATE-----": "DER|base64",
    }
    for data, message in cases.items():
        with pytest.raises(pem.PemError, match=message):
            pem.certificate(data)
    with pytest.raises(pem.PemError, match="expected PRIVATE KEY"):
        pem.private_key(cert_pem)
    with pytest.raises(pem.PemError, match="encrypted"):
        pem.private_key(
            ec_key.private_bytes(PEM, PKCS8, serialization.BestAvailableEncryption(b"pw"))
        )
    with pytest.raises(pem.PemError, match="encrypted"):
        pem.private_key(
            ec_key.private_bytes(PEM, TRAD, serialization.BestAvailableEncryption(b"pw"))
        )
    with pytest.raises(pem.PemError):
        pem.certificate(make_cert(ec_key).public_bytes(DER)[:-5])  # truncated DER


def test_error_messages_never_contain_the_key(ec_key: PrivateKey) -> None:
    key_pem = ec_key.private_bytes(PEM, PKCS8, NOENC)
    body = b"".join(key_pem.splitlines()[1:-1])
    for bad in (key_pem[:-30], key_pem.replace(b"PRIVATE KEY", b"PRIVATE KEX")):
        with pytest.raises(pem.PemError) as err:
            pem.private_key(bad)
        assert body[:16].decode() not in str(err.value)


@given(st.binary(max_size=300))
def test_random_bytes_only_ever_raise_pem_error(data: bytes) -> None:
    for parse in (pem.certificate, pem.private_key):
        try:
            der = parse(data)
        except pem.PemError:
            continue
        assert der[:1] == b"\x30"


@given(st.binary(max_size=120), st.sampled_from([b"-----BEGIN ", b"-----BEGIN CERTIFICATE-----"]))
def test_hostile_pem_armour_only_raises_pem_error(tail: bytes, head: bytes) -> None:
    for parse in (pem.certificate, pem.private_key):
        try:
            parse(head + tail)
        except pem.PemError:
            pass


@given(st.binary(min_size=1, max_size=200))
def test_corrupted_certificates_are_refused_or_still_well_formed(noise: bytes) -> None:
    good = _CERT_DER
    at = noise[0] % len(good)
    bad = good[:at] + noise[1:] + good[at + len(noise) - 1 :]
    try:
        der = pem.certificate(bad)
    except pem.PemError:
        return
    pem.cert_public_key(der)  # when accepted, the structure is walkable without crashing


_CERT_DER = make_cert(ec.generate_private_key(ec.SECP256R1())).public_bytes(DER)
