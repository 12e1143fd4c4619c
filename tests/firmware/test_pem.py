"""firmware/pem.py under CPython: PEM -> DER and the cheap key/certificate checks."""

from __future__ import annotations

import importlib
import sys

import pytest
from cert_kit import DER, PEM, PKCS8, TRADITIONAL, KeyPair, issue
from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st

from host.paths import FIRMWARE_DIR

sys.path.insert(0, str(FIRMWARE_DIR))
pem = importlib.import_module("pem")

SERIAL = "G030JF055364XVRB"


@pytest.fixture(scope="module")
def ec_pair() -> KeyPair:
    return issue(SERIAL, "EC")


@pytest.fixture(scope="module")
def rsa_pair() -> KeyPair:
    return issue(SERIAL, "RSA")


@pytest.mark.parametrize("kind", ["ec", "rsa"])
@pytest.mark.parametrize("fmt", [PKCS8, TRADITIONAL])
def test_pem_and_der_inputs_give_the_same_der(
    kind: str, fmt: serialization.PrivateFormat, ec_pair: KeyPair, rsa_pair: KeyPair
) -> None:
    pair = ec_pair if kind == "ec" else rsa_pair
    cert_der = pair.cert_bytes(DER)
    key_der = pair.key_bytes(DER, fmt)
    assert pem.certificate(pair.cert_bytes(PEM)) == cert_der
    assert pem.certificate(cert_der) == cert_der
    assert pem.private_key(pair.key_bytes(PEM, fmt)) == key_der
    assert pem.private_key(key_der) == key_der
    pem.check_pair(cert_der, key_der)  # matching pair passes


def test_windows_line_endings_and_surrounding_text_are_accepted(ec_pair: KeyPair) -> None:
    text = b"Bag Attributes\r\n" + ec_pair.cert_bytes(PEM).replace(b"\n", b"\r\n") + b"\r\n\x00"
    assert pem.certificate(text) == ec_pair.cert_bytes(DER)


@pytest.mark.parametrize("fmt", [PKCS8, TRADITIONAL])
def test_a_key_from_another_pair_is_refused(
    fmt: serialization.PrivateFormat, ec_pair: KeyPair, rsa_pair: KeyPair
) -> None:
    for pair, key_type in ((ec_pair, "EC"), (rsa_pair, "RSA")):
        other = issue(SERIAL, key_type)  # same kind of key, another pair
        with pytest.raises(pem.PemError, match="does not match"):
            pem.check_pair(pair.cert_bytes(DER), other.key_bytes(DER, fmt))
    with pytest.raises(pem.PemError, match="does not match"):  # EC cert, RSA key
        pem.check_pair(ec_pair.cert_bytes(DER), rsa_pair.key_bytes(DER, fmt))


def test_malformed_inputs_get_clear_errors(ec_pair: KeyPair) -> None:
    cert_pem = ec_pair.cert_bytes(PEM)
    key_pem = ec_pair.key_bytes(PEM, PKCS8)
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
            ec_pair.key.private_bytes(PEM, PKCS8, serialization.BestAvailableEncryption(b"pw"))
        )
    with pytest.raises(pem.PemError, match="encrypted"):
        pem.private_key(
            ec_pair.key.private_bytes(
                PEM, TRADITIONAL, serialization.BestAvailableEncryption(b"pw")
            )
        )
    with pytest.raises(pem.PemError):
        pem.certificate(ec_pair.cert_bytes(DER)[:-5])  # truncated DER


def test_error_messages_never_contain_the_key(ec_pair: KeyPair) -> None:
    key_pem = ec_pair.key_bytes(PEM, PKCS8)
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


_CERT_DER = issue(SERIAL).cert_bytes(DER)
