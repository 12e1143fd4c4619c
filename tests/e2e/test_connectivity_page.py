"""The config page of a real (emulated) board in config mode, fed malformed, truncated, oversize
and hostile input: each gets a clear error, nothing is stored, the board keeps serving the page
and keeps detecting clicks, and no secret shows on the console or in a page.

The module-level Hypothesis fuzz of the parsers is tests/firmware/test_configap.py; these are the
board-level cases: the whole app (services, LED, button) with the page, behind the board's AP.
"""

from __future__ import annotations

import random
import socket
import threading
import time

import pytest
from connectivity_kit import WAIT_S, assert_no_leaks, emulated
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from rig import gestures
from rig.cloud.runtime import CloudRuntime
from rig.drivers.emulated import EmulatedBoard
from rig.pytest_plugin.boards import BoardFactory
from rig.strategies.provisioning import (
    ConfigPage,
    FilePart,
    enter_config_mode,
    label_serial,
    multipart,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

IDLE = 8  # idle connections held open while the page must still answer
HOSTILE_PASSWORD = '"><script>alert(1)</script>pw-\u00e9\u2603'


def stored(board: EmulatedBoard) -> list[str]:
    """Configuration files on the board's flash (none on a blank board)."""
    names = ["netcfg.json", "config.commit"]
    found = [n for n in names if (board.flash / n).exists()]
    found += (
        [p.name for p in (board.flash / "pki").glob("*")] if (board.flash / "pki").exists() else []
    )
    return found


def serving(page: ConfigPage, timeout: float = WAIT_S) -> bool:
    """The page answers 200 again (connections a flood left open are closed by their deadline)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if page.get().status == 200:
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def status(reply: bytes) -> int:
    head = reply.split(b"\r\n", 1)[0].split(b" ")
    assert len(head) >= 2 and head[0] == b"HTTP/1.1", f"not an HTTP answer: {reply[:200]!r}"
    return int(head[1])


def test_config_page_survives_malformed_oversize_and_hostile_input(
    boards: BoardFactory, cloud_runtime: CloudRuntime
) -> None:
    board = emulated(boards)
    page = enter_config_mode(board)
    serial = label_serial(board)
    identity = cloud_runtime.cloud.provision_button(serial)
    cert = FilePart("c.pem.crt", identity["certificatePem"].encode())
    key = FilePart("p.pem.key", identity["privateKeyPem"].encode())
    secrets = [
        HOSTILE_PASSWORD,
        identity["privateKeyPem"].strip(),
        identity["privateKeyDer"].hex(),
    ]
    assert not page.join("wrong-password"), "the AP let a phone in with a wrong password"

    raw_cases = {
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)): 400,  # a TLS hello
        b"GET /../../etc/passwd HTTP/1.1\r\n\r\n": 404,
        b"DELETE / HTTP/1.1\r\n\r\n": 405,
        b"GET / HTTP/1.1\r\n" + b"X-Long: " + b"a" * 4000 + b"\r\n\r\n": 431,
        b"POST /configure HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nssid=\r\n0\r\n\r\n": 501,
        b"POST /configure HTTP/1.1\r\nContent-Type: text/plain\r\n\r\n": 411,
        b"POST /configure HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n": 413,
        b"POST /configure HTTP/1.1\r\nContent-Length: -5\r\n\r\n": 400,
        b"POST /configure HTTP/1.1\r\nContent-Length: 40\r\n\r\nssid=truncated": 400,
        b"\r\n\r\n": 400,
    }
    for request, expected in raw_cases.items():
        reply = page.raw(request)
        assert status(reply) == expected, f"{request[:60]!r}: {reply[:300]!r}"
        assert page.get().status == 200  # still serving

    content_type, body = multipart({"ssid": "home", "password": HOSTILE_PASSWORD, "cert": cert})
    for cut in (len(body) // 3, len(body) - 10):  # truncated multipart bodies
        answer = page.request("POST", "/configure", body[:cut], content_type)
        assert answer.status == 400, answer
    other_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    forms = [
        # hostile text fields, no certificate
        ({"ssid": "<img src=x onerror=alert(1)>", "password": HOSTILE_PASSWORD}, {"cert", "key"}),
        # a private key where the certificate goes, an encrypted key
        ({"ssid": "home", "password": HOSTILE_PASSWORD, "cert": key, "key": FilePart("k", other_key)}, {"cert", "key"}),
        # a certificate whose key is someone else's, an SSID too long, a bad endpoint
        ({"ssid": "x" * 40, "password": HOSTILE_PASSWORD, "cert": cert, "key": FilePart("k", identity["certificatePem"].encode()), "endpoint": "a b:99999"}, {"ssid", "key", "endpoint"}),
        # not UTF-8
        ({"ssid": b"\xff\xfe\xfd", "password": HOSTILE_PASSWORD, "cert": cert, "key": key}, {"form"}),
    ]  # fmt: skip
    for fields, bad in forms:
        answer = page.submit(fields)
        assert answer.status == 400, answer
        assert bad <= set(answer.errors()), f"{sorted(bad)} not named: {answer.errors()}"
        assert HOSTILE_PASSWORD not in answer.body and "<script>" not in answer.body
        assert "<img src=x" not in answer.body  # an echoed SSID is escaped
        assert not any(s in answer.body for s in secrets)

    rng = random.Random(1234)
    for _ in range(30):  # random garbage of random sizes
        blob = rng.randbytes(rng.randrange(1, 3000))
        reply = page.raw(
            b"POST /configure HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(blob) + blob
        )
        assert status(reply) == 400, reply[:200]

    # Idle connections do not block the page: the newest request pushes out the oldest silent
    # connection (a crowd of hostile clients: test_connectivity_page_crowd.py).
    idle = [socket.create_connection(("127.0.0.1", board.ap_port), WAIT_S) for _ in range(IDLE)]
    try:
        assert status(page.raw(b"GET / HTTP/1.1\r\n\r\n")) == 200
    finally:
        for s in idle:
            s.close()

    assert stored(board) == [], f"a refused form left files: {stored(board)}"
    assert serving(page)
    refused = board.events("config")
    assert any(e.get("state") == "refused" for e in refused)
    for e in refused:  # field names only, never values
        assert all(isinstance(f, str) and len(f) < 10 for f in e.get("fields", []))
    # The board is alive: config mode on, clicks detected.
    board.press(gestures.single(120))
    assert board.expect("click", WAIT_S)["type"] == "SINGLE"
    assert [e["state"] for e in board.events("config")].count("open") == 1
    assert_no_leaks(secrets, board.console_text(), board.workdir / "console.log")


def test_two_phones_at_once_get_consistent_answers(
    boards: BoardFactory, cloud_runtime: CloudRuntime
) -> None:
    """Concurrent clients of the page: every request is answered, the board stores nothing."""
    board = emulated(boards)
    page = enter_config_mode(board)
    statuses: list[int] = []
    lock = threading.Lock()

    def phone(n: int) -> None:
        for i in range(5):
            got = (
                ConfigPage(board).get().status
                if (n + i) % 2
                else ConfigPage(board).submit({"ssid": f"net{n}", "password": "short"}).status
            )
            with lock:
                statuses.append(got)

    threads = [threading.Thread(target=phone, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT_S * 2)
    assert len(statuses) == 10 and set(statuses) <= {200, 400, 503}, statuses
    assert 200 in statuses and 400 in statuses
    assert board.state == "running", board.console_text()[-500:]
    assert stored(board) == [] and serving(page)
    del cloud_runtime  # (the module's cloud is not needed here; kept for a uniform signature)
