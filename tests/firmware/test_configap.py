"""The configuration page served by the real firmware (firmware/configap.py + httpd.py + form.py)
on the unix port, driven by a CPython HTTP client.

Valid forms (both encodings) are stored as DER; malformed, truncated, oversize and slow requests
get a clear error, store nothing, and the server keeps serving. No console line may carry the
Wi-Fi password or key material."""

from __future__ import annotations

import binascii
import http.client
import json
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from cert_kit import DER, PEM, issue, shared_ca

from host.paths import FIRMWARE_DIR, SHIMS_DIR
from rig.unix_port.process import MicroPythonProcess

SERIAL = "G030JF055364XVRB"
WIFI_PASSWORD = "correct-horse-battery"
WAIT = 30.0

PORTAL = """
import asyncio, configap, events
def show(p):
    events.emit("led", pattern=p)
async def main():
    p = configap.Portal(%r, show, timeout_s=120, request_timeout_ms=1500)
    print("RESULT", await p.run())
asyncio.run(main())
"""


@dataclass(frozen=True)
class Identity:
    cert_pem: bytes
    key_pem: bytes
    cert_der: bytes
    key_der: bytes
    ca_pem: bytes
    ca_der: bytes
    other_key_pem: bytes


@pytest.fixture(scope="module")
def identity() -> Identity:
    pair, ca, other = issue(SERIAL), shared_ca(), issue("other")
    return Identity(
        cert_pem=pair.cert_bytes(PEM),
        key_pem=pair.key_bytes(PEM),
        cert_der=pair.cert_bytes(DER),
        key_der=pair.key_bytes(DER),
        ca_pem=ca.cert_bytes(PEM),
        ca_der=ca.cert_bytes(DER),
        other_key_pem=other.key_bytes(PEM),
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Button(MicroPythonProcess):
    """The firmware portal in a unix-port process whose cwd is the board's flash."""

    def __init__(self, flash: Path) -> None:
        self.flash = flash
        self.port = free_port()
        (flash / "board.py").write_bytes((SHIMS_DIR.parent / "board.py").read_bytes())
        super().__init__(
            PORTAL % SERIAL,
            workdir=flash,
            path=(FIRMWARE_DIR, SHIMS_DIR),
            env={"BUTTONRIG_AP_PORT": str(self.port), "BUTTONRIG_CHANNEL": None},
        )

    def expect_event(self, ev: str, timeout: float = WAIT, **fields: object) -> dict[str, object]:
        """The next console event `ev` whose fields equal `fields`."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.expect("EVT ", max(deadline - time.monotonic(), 0.01))
            obj = json.loads(line[4:])
            if obj["ev"] == ev and all(obj.get(k) == v for k, v in fields.items()):
                return obj

    def events(self, ev: str) -> list[dict[str, object]]:
        out = []
        for line in self.lines:
            if line.startswith("EVT "):
                obj = json.loads(line[4:])
                if obj["ev"] == ev:
                    out.append(obj)
        return out

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=WAIT)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read().decode()
        finally:
            conn.close()

    def stored(self) -> list[str]:
        return sorted(
            str(p.relative_to(self.flash))
            for p in self.flash.rglob("*")
            if p.is_file() and p.name != "board.py"
        )


@pytest.fixture
def button(tmp_path: Path, identity: Identity) -> Iterator[Button]:
    b = Button(tmp_path)
    try:
        b.expect_event("config", state="open")
        yield b
    finally:
        console = b.close()
        assert_no_secrets(console, identity)


def assert_no_secrets(console: str, identity: Identity) -> None:
    secrets = [WIFI_PASSWORD, binascii.hexlify(identity.key_der).decode()]
    secrets += [line.decode() for line in identity.key_pem.splitlines()[1:-1]]
    secrets += [line.decode() for line in identity.other_key_pem.splitlines()[1:-1]]
    for secret in secrets:
        assert secret not in console, "console output carries a secret"


def multipart(
    fields: dict[str, bytes], boundary: str = "----buttonrigFormBoundary"
) -> tuple[bytes, dict[str, str]]:
    out = b""
    for name, value in fields.items():
        fn = '; filename="file.pem"' if name in ("cert", "key", "ca") else ""
        out += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"{fn}\r\n\r\n'.encode()
        )
        out += value + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def urlencoded(fields: dict[str, bytes]) -> tuple[bytes, dict[str, str]]:
    body = urllib.parse.urlencode(list(fields.items())).encode()
    return body, {"Content-Type": "application/x-www-form-urlencoded"}


def good_fields(identity: Identity) -> dict[str, bytes]:
    return {
        "ssid": b"Home Wi-Fi",
        "password": WIFI_PASSWORD.encode(),
        "cert": identity.cert_pem,
        "key": identity.key_pem,
        "ca": identity.ca_der,  # DER is accepted as well
        "endpoint": b"A3T2RR9XSNT91O.iot.us-east-1.amazonaws.com",
    }


def assert_applied(button: Button, identity: Identity) -> None:
    assert button.expect("RESULT") == "RESULT True"
    assert (button.flash / "pki" / "cert.der").read_bytes() == identity.cert_der
    assert (button.flash / "pki" / "key.der").read_bytes() == identity.key_der
    assert (button.flash / "pki" / "ca.der").read_bytes() == identity.ca_der
    cfg = json.loads((button.flash / "netcfg.json").read_text())
    assert cfg == {
        "ssid": "Home Wi-Fi",
        "password": WIFI_PASSWORD,
        "host": "a3t2rr9xsnt91o.iot.us-east-1.amazonaws.com",
        "port": 8883,
    }
    assert button.stored() == ["netcfg.json", "pki/ca.der", "pki/cert.der", "pki/key.der"]


def test_page_and_access_point_look_like_the_aws_button(button: Button) -> None:
    opened = button.events("config")[0]
    assert opened["essid"] == "Button ConfigureMe - VRB"  # last three characters of the DSN
    button.expect_event("led", pattern="config")  # blinking blue
    for path in ("/", "/index.html"):
        status, page = button.request("GET", path)
        assert status == 200
        assert "<title>Button ConfigureMe</title>" in page
        assert f"for device: {SERIAL}" in page
        for field in (
            'name="ssid"',
            'name="password"',
            'name="cert"',
            'name="key"',
            'name="endpoint"',
        ):
            assert field in page
        assert "optional" not in page  # every field is required on a blank board
    assert button.request("GET", "/nope")[0] == 404
    assert button.request("DELETE", "/")[0] == 405


def test_valid_multipart_form_is_stored_as_der(button: Button, identity: Identity) -> None:
    body, headers = multipart(good_fields(identity))
    status, page = button.request("POST", "/configure", body, headers)
    assert status == 200, page
    assert "Thank you for configuring your device." in page
    assert_applied(button, identity)
    assert button.events("config")[-1] == {"ev": "config", "state": "closed", "applied": True}


def test_valid_urlencoded_form_is_stored_as_der(button: Button, identity: Identity) -> None:
    body, headers = urlencoded(good_fields(identity))
    status, page = button.request("POST", "/index.html", body, headers)
    assert status == 200, page
    assert_applied(button, identity)


def test_bad_fields_get_clear_messages_and_nothing_is_stored(
    button: Button, identity: Identity
) -> None:
    cases: list[tuple[dict[str, bytes], str]] = [
        ({"ssid": b""}, "SSID must not be empty"),
        ({"endpoint": b"https://example.com/"}, "endpoint"),
        (
            {"cert": b"-----BEGIN CERTIFICATE-----\nnot base64!\n"},
            "certificate: PEM END line missing",
        ),
        ({"cert": identity.cert_pem[:200] + b"\n-----END CERTIFICATE-----\n"}, "certificate:"),
        ({"key": identity.cert_pem}, "private key: expected PRIVATE KEY"),
        ({"key": identity.other_key_pem}, "private key does not match the certificate"),
        ({"password": b"short"}, "WPA2 password must be 8-63"),
        ({"cert": b""}, "certificate required"),
        ({"ca": b""}, "root CA required"),  # a blank board has none to keep
        ({"endpoint": b"http://evil.example/../"}, "a host name, not a URL"),
        ({"endpoint": b"https://abc.iot.us-east-1.amazonaws.com"}, "a host name, not a URL"),
        ({"ssid": b"\xff\xfeGuest"}, "text fields must be UTF-8"),
    ]
    for change, message in cases:
        body, headers = urlencoded({**good_fields(identity), **change})
        status, page = button.request("POST", "/configure", body, headers)
        assert status == 400, (change.keys(), page)
        assert message in page, (message, page)
        assert (
            WIFI_PASSWORD not in page and "short" not in page.split("</form>")[0].split("<form")[0]
        )
        assert "BEGIN" not in page
        assert button.stored() == []
    status, page = button.request("GET", "/")
    assert status == 200


def test_malformed_truncated_oversize_and_slow_requests(
    button: Button, identity: Identity
) -> None:
    port = button.port

    def raw(data: bytes, shut: bool = True) -> str:
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as s:
            s.sendall(data)
            if shut:
                s.shutdown(socket.SHUT_WR)
            return s.recv(65536).decode(errors="replace")

    assert raw(b"\x16\x03\x01\x00garbage\r\n\r\n").startswith("HTTP/1.1 400 ")
    assert raw(b"GET / HTTP/1.1\r\nbroken header line\r\n\r\n").startswith("HTTP/1.1 400 ")
    assert raw(b"POST /configure HTTP/1.1\r\nContent-Length: 50\r\n\r\nssid=x").startswith(
        "HTTP/1.1 400 "
    )
    assert raw(b"POST /configure HTTP/1.1\r\n\r\n").startswith("HTTP/1.1 411 ")
    assert raw(b"GET / HTTP/1.1\r\nX: " + b"a" * 5000 + b"\r\n\r\n").startswith("HTTP/1.1 431 ")
    assert raw(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").startswith(
        "HTTP/1.1 501 "
    )
    big = raw(b"POST /configure HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n", shut=False)
    assert big.startswith("HTTP/1.1 413 ")
    body, headers = multipart(good_fields(identity))
    truncated = body[: len(body) // 2]
    head = f"POST /configure HTTP/1.1\r\nContent-Type: {headers['Content-Type']}\r\nContent-Length: {len(truncated)}\r\n\r\n"
    reply = raw(head.encode() + truncated)
    assert reply.startswith("HTTP/1.1 400 ") and "truncated multipart" in reply

    # a slow client: half a request, then silence. Others are served meanwhile; it gets 408.
    slow = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    try:
        slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        assert button.request("GET", "/")[0] == 200
        assert slow.recv(65536).decode().startswith("HTTP/1.1 408 ")
    finally:
        slow.close()
    assert button.stored() == []
    body, headers = urlencoded(good_fields(identity))
    assert button.request("POST", "/configure", body, headers)[0] == 200  # still serving
    assert_applied(button, identity)


def test_empty_fields_keep_the_stored_values(button: Button, identity: Identity) -> None:
    body, headers = urlencoded(good_fields(identity))
    assert button.request("POST", "/configure", body, headers)[0] == 200
    assert button.expect("RESULT") == "RESULT True"
    button.close()
    again = Button(button.flash)  # config mode once more, change only the SSID
    try:
        again.expect_event("config", state="open")
        status, page = again.request("GET", "/")
        assert 'value="Home Wi-Fi"' in page and WIFI_PASSWORD not in page
        body, headers = urlencoded({"ssid": b"Home Wi-Fi", "endpoint": b"broker.local:18883"})
        status, page = again.request("POST", "/configure", body, headers)
        assert status == 200, (page, again.lines)
        assert again.expect("RESULT") == "RESULT True"
        cfg = json.loads((again.flash / "netcfg.json").read_text())
        assert (
            cfg["password"] == WIFI_PASSWORD
            and cfg["host"] == "broker.local"
            and cfg["port"] == 18883
        )
        assert (again.flash / "pki" / "key.der").read_bytes() == identity.key_der
    finally:
        assert_no_secrets(again.close(), identity)


def openssl(*args: str, data: bytes) -> bytes:
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout


def nested_pkcs8(key_der: bytes, max_size: int = 8192) -> bytes:
    """`key_der` wrapped in PKCS#8 PrivateKeyInfo after PrivateKeyInfo, as deep as fits."""

    def tlv(tag: int, content: bytes) -> bytes:
        n = len(content)
        size = (
            bytes([n])
            if n < 128
            else bytes([0x81, n])
            if n < 256
            else bytes([0x82, n >> 8, n & 0xFF])
        )
        return bytes([tag]) + size + content

    key = key_der
    while True:
        wrapped = tlv(0x30, bytes.fromhex("020100") + tlv(0x30, b"") + tlv(0x04, key))
        if len(wrapped) > max_size:
            return key
        key = wrapped


def test_keys_without_their_public_part_and_nested_keys_are_refused(
    button: Button, identity: Identity
) -> None:
    # openssl ec -no_public: the page cannot tell whether such a key belongs to the certificate
    own = openssl("ec", "-no_public", data=identity.key_pem)
    other = openssl("ec", "-no_public", data=identity.other_key_pem)
    deep = nested_pkcs8(identity.key_der)
    assert deep.count(bytes.fromhex("020100300004")) > 500
    for key, message in (
        (other, "no public part"),
        (own, "no public part"),
        (deep, "private key: not a private key"),
    ):
        body, headers = multipart({**good_fields(identity), "key": key})
        status, page = button.request("POST", "/configure", body, headers)
        assert status == 400, page[-300:]
        assert 'data-field="key"' in page and message in page, page[-400:]
        assert button.stored() == []
    assert button.events("error") == []  # no handler crash (the nested key gave a 500 once)


def test_a_cut_off_upload_changes_nothing_stored(button: Button, identity: Identity) -> None:
    body, headers = multipart(good_fields(identity))
    assert button.request("POST", "/configure", body, headers)[0] == 200
    assert button.expect("RESULT") == "RESULT True"
    before = {p: (button.flash / p).read_bytes() for p in button.stored()}
    button.close()
    again = Button(button.flash)
    try:
        again.expect_event("config", state="open")
        other = issue("another", "RSA")
        fields = {
            **good_fields(identity),
            "cert": other.cert_bytes(PEM),
            "key": other.key_bytes(PEM),
        }
        body, headers = multipart(fields)
        head = (
            f"POST /configure HTTP/1.1\r\nContent-Type: {headers['Content-Type']}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        cut = body.index(b"-----END CERTIFICATE-----") + 30  # the certificate is in, the key not
        for sent in (body[:cut], body[: body.index(b"-----END PRIVATE KEY-----")]):
            with socket.create_connection(("127.0.0.1", again.port), timeout=WAIT) as s:
                s.sendall(head + sent)
                s.shutdown(socket.SHUT_WR)  # the phone left the access point
                reply = s.recv(65536).decode(errors="replace")
            assert reply.startswith("HTTP/1.1 400 "), reply[:200]
            assert again.stored() == sorted(before), again.stored()  # no staged file left
            assert {p: (again.flash / p).read_bytes() for p in again.stored()} == before
        assert again.request("GET", "/")[0] == 200  # still in config mode, still serving
        assert [e["state"] for e in again.events("config")] == ["open"]
    finally:
        assert_no_secrets(again.close(), identity)


def test_fifty_parallel_clients_each_get_an_http_answer(button: Button) -> None:
    # more clients than slots: the ones turned away get a 503 and an orderly close, never a reset
    def one(_: int) -> str:
        with socket.create_connection(("127.0.0.1", button.port), timeout=WAIT) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: 192.168.4.1\r\n\r\n")
            chunks = []
            try:
                while chunk := s.recv(65536):
                    chunks.append(chunk)
            except ConnectionResetError:
                return f"reset after {sum(map(len, chunks))} bytes"
        return b"".join(chunks)[:12].decode(errors="replace")

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(one, range(50)))
    assert all(a in ("HTTP/1.1 200", "HTTP/1.1 503") for a in answers), sorted(set(answers))
    assert "HTTP/1.1 200" in answers
    assert button.request("GET", "/")[0] == 200


def test_a_form_refused_at_its_start_is_answered_without_a_reset(button: Button) -> None:
    # the page refuses at the 17th field; the other 15 KB of the body are still read, so closing
    # the connection cannot reset it and destroy the answer
    body = b"&".join(b"f%d=1" % i for i in range(17)) + b"&pad=" + b"a" * 15000
    head = (
        "POST /configure HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", button.port), timeout=WAIT) as s:
            s.sendall(head + body)
            chunks = []
            while chunk := s.recv(65536):  # a ConnectionResetError fails the test
                chunks.append(chunk)
        reply = b"".join(chunks).decode(errors="replace")
        assert reply.startswith("HTTP/1.1 400 ") and "too many fields" in reply, reply[:300]
    assert button.stored() == []
