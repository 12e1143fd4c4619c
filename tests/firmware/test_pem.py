"""firmware/pem.py and der.py under CPython: PEM -> DER streamed in pieces, and the cheap
key/certificate checks."""

from __future__ import annotations

import importlib
import io
import subprocess
import sys
from pathlib import Path

import pytest
from cert_kit import DER, PEM, PKCS8, TRADITIONAL, KeyPair, issue
from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st

from host.paths import FIRMWARE_DIR

sys.path.insert(0, str(FIRMWARE_DIR))
pem = importlib.import_module("pem")
der_checks = importlib.import_module("der")

SERIAL = "G030JF055364XVRB"


def decode(data: bytes, labels: tuple[str, ...], piece: int = 5) -> bytes:
    """PEM or DER fed to pem.Decoder `piece` bytes at a time, as the setup page's upload is."""
    out = io.BytesIO()
    decoder = pem.Decoder(labels, out)
    for i in range(0, len(data), piece):
        decoder.write(data[i : i + piece])
    decoder.close()
    return out.getvalue()


def certificate(data: bytes) -> bytes:
    der = decode(data, pem.CERT_LABELS)
    der_checks.certificate(der)
    return der


def private_key(data: bytes) -> bytes:
    der = decode(data, pem.KEY_LABELS)
    der_checks.private_key(der)
    return der


def check_pair(cert_der: bytes, key_der: bytes) -> None:
    der_checks.check_pair(der_checks.certificate(cert_der), der_checks.private_key(key_der))


def openssl(*args: str, data: bytes) -> bytes:
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout


def without_public_part(key_pem: bytes, pkcs8: bool = False) -> bytes:
    """The EC key as `openssl ec -no_public` writes it (SEC1, optionally wrapped in PKCS#8)."""
    sec1 = openssl("ec", "-no_public", data=key_pem)
    return openssl("pkcs8", "-topk8", "-nocrypt", data=sec1) if pkcs8 else sec1


def pkcs8_around(key_der: bytes) -> bytes:
    """`key_der` wrapped in one more PKCS#8 PrivateKeyInfo (version, algorithm, OCTET STRING)."""

    def tlv(tag: int, content: bytes) -> bytes:
        n = len(content)
        size = bytes([n]) if n < 128 else bytes([0x82, n >> 8, n & 0xFF])
        return bytes([tag]) + size + content

    ec_public_key = bytes.fromhex("06072a8648ce3d0201")
    return tlv(0x30, bytes.fromhex("020100") + tlv(0x30, ec_public_key) + tlv(0x04, key_der))


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
    assert certificate(pair.cert_bytes(PEM)) == cert_der
    assert certificate(cert_der) == cert_der
    assert private_key(pair.key_bytes(PEM, fmt)) == key_der
    assert private_key(key_der) == key_der
    check_pair(cert_der, key_der)  # matching pair passes


def test_windows_line_endings_and_surrounding_text_are_accepted(ec_pair: KeyPair) -> None:
    text = b"Bag Attributes\r\n" + ec_pair.cert_bytes(PEM).replace(b"\n", b"\r\n") + b"\r\n\x00"
    assert certificate(text) == ec_pair.cert_bytes(DER)


@pytest.mark.parametrize("fmt", [PKCS8, TRADITIONAL])
def test_a_key_from_another_pair_is_refused(
    fmt: serialization.PrivateFormat, ec_pair: KeyPair, rsa_pair: KeyPair
) -> None:
    for pair, key_type in ((ec_pair, "EC"), (rsa_pair, "RSA")):
        other = issue(SERIAL, key_type)  # same kind of key, another pair
        with pytest.raises(pem.PemError, match="does not match"):
            check_pair(pair.cert_bytes(DER), other.key_bytes(DER, fmt))
    with pytest.raises(pem.PemError, match="does not match"):  # EC cert, RSA key
        check_pair(ec_pair.cert_bytes(DER), rsa_pair.key_bytes(DER, fmt))


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
            certificate(data)
    with pytest.raises(pem.PemError, match="expected PRIVATE KEY"):
        private_key(cert_pem)
    with pytest.raises(pem.PemError, match="encrypted"):
        private_key(
            ec_pair.key.private_bytes(PEM, PKCS8, serialization.BestAvailableEncryption(b"pw"))
        )
    with pytest.raises(pem.PemError, match="encrypted"):
        private_key(
            ec_pair.key.private_bytes(
                PEM, TRADITIONAL, serialization.BestAvailableEncryption(b"pw")
            )
        )
    with pytest.raises(pem.PemError):
        certificate(ec_pair.cert_bytes(DER)[:-5])  # truncated DER


def test_error_messages_never_contain_the_key(ec_pair: KeyPair) -> None:
    key_pem = ec_pair.key_bytes(PEM, PKCS8)
    body = b"".join(key_pem.splitlines()[1:-1])
    for bad in (key_pem[:-30], key_pem.replace(b"PRIVATE KEY", b"PRIVATE KEX")):
        with pytest.raises(pem.PemError) as err:
            private_key(bad)
        assert body[:16].decode() not in str(err.value)


@given(st.binary(max_size=300))
def test_random_bytes_only_ever_raise_pem_error(data: bytes) -> None:
    for parse in (der_checks.certificate, der_checks.private_key):
        try:
            der = parse(data)
        except pem.PemError:
            continue
        assert der[:1] == b"\x30"


@given(st.binary(max_size=120), st.sampled_from([b"-----BEGIN ", b"-----BEGIN CERTIFICATE-----"]))
def test_hostile_pem_armour_only_raises_pem_error(tail: bytes, head: bytes) -> None:
    for parse in (der_checks.certificate, der_checks.private_key):
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
        der = certificate(bad)
    except pem.PemError:
        return
    der_checks.cert_public_key(der)  # when accepted, the structure is walkable without crashing


_CERT_DER = issue(SERIAL).cert_bytes(DER)


@pytest.mark.parametrize("pkcs8", [False, True])
def test_an_ec_key_without_its_public_part_is_refused(ec_pair: KeyPair, pkcs8: bool) -> None:
    # openssl ec -no_public: nothing to compare with the certificate, matching or not
    bare = without_public_part(ec_pair.key_bytes(PEM, TRADITIONAL), pkcs8)
    other = without_public_part(issue(SERIAL, "EC").key_bytes(PEM, TRADITIONAL), pkcs8)
    for key in (bare, other):
        with pytest.raises(pem.PemError, match="no public part"):
            private_key(key)


def test_a_pkcs8_key_inside_a_pkcs8_key_is_refused(ec_pair: KeyPair) -> None:
    inner = ec_pair.key_bytes(DER, PKCS8)
    for levels in (1, 2, 700):
        key = inner
        for _ in range(levels):
            key = pkcs8_around(key)
        with pytest.raises(pem.PemError, match=r"not a private key|too large"):
            private_key(key)


def test_a_staged_file_is_checked_without_reading_it_whole(
    tmp_path: Path, ec_pair: KeyPair, rsa_pair: KeyPair
) -> None:
    # the setup page checks the upload where it was staged: the same answers as from bytes
    for pair in (ec_pair, rsa_pair):
        for der, check in (
            (pair.cert_bytes(DER), der_checks.certificate),
            (pair.key_bytes(DER), der_checks.private_key),
        ):
            path = tmp_path / "staged.der"
            path.write_bytes(der)
            with path.open("rb") as f:
                assert check(f) == check(der)
        with pytest.raises(pem.PemError):
            path.write_bytes(pair.cert_bytes(DER)[:-1])
            with path.open("rb") as f:
                der_checks.certificate(f)


@given(st.integers(1, 400))
def test_pem_decodes_the_same_whatever_the_pieces(piece: int) -> None:
    # the upload arrives in pieces of any size: markers, base64 groups and CRLFs cut anywhere
    text = b"Bag Attributes\r\n" + _CERT_PEM.replace(b"\n", b"\r\n") + b"trailing text: ignored"
    assert decode(text, pem.CERT_LABELS, piece) == _PAIR.cert_bytes(DER)
    assert decode(_PAIR.cert_bytes(DER), pem.CERT_LABELS, piece) == _PAIR.cert_bytes(DER)


_PAIR = issue(SERIAL)
_CERT_PEM = _PAIR.cert_bytes(PEM)
