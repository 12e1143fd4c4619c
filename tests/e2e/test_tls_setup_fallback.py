"""A configured board whose TLS set-up fails at boot (a key mbedTLS rejects, or an image whose
TLS layer is too old) still opens config mode, so the customer can upload a working identity.

The identity is put on the flash as `buttonrig board provision --key` would: a valid certificate
and CA, and an Ed25519 private key, which the config page never produces but mbedTLS refuses in
`SSLContext.load_cert_chain` ("invalid key") on the unix port as on an ESP32.
"""

from __future__ import annotations

import json

import pytest
from cert_kit import DER, PKCS8, issue
from connectivity_kit import WAIT_S
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from rig import gestures
from rig.drivers.base import Board
from rig.drivers.emulated import EmulatedBoard
from rig.strategies.provisioning import ConfigPage

pytestmark = pytest.mark.e2e

_PAIR = issue("tls-setup")
_REJECTED_KEY = ed25519.Ed25519PrivateKey.generate().private_bytes(
    DER, PKCS8, serialization.NoEncryption()
)
CONFIGURED_WITH_A_REJECTED_KEY = {
    "netcfg.json": json.dumps(
        {"ssid": "lab", "password": "lab-pass-1", "host": "broker.example.com", "port": 8883}
    ).encode(),
    "pki/cert.der": _PAIR.cert_bytes(DER),
    "pki/ca.der": _PAIR.cert_bytes(DER),
    "pki/key.der": _REJECTED_KEY,
}


@pytest.mark.board_files(CONFIGURED_WITH_A_REJECTED_KEY)
def test_a_key_the_tls_layer_rejects_falls_back_to_config_mode(board: Board) -> None:
    error = board.expect("error", WAIT_S, code="tls_setup")
    assert "invalid key" in error["msg"], error
    opened = board.expect("config", WAIT_S, state="open")
    assert opened["essid"].startswith("Button ConfigureMe - ")
    board.expect("led", WAIT_S, pattern="config")
    if isinstance(board, EmulatedBoard):  # the page answers: a new identity can be uploaded
        assert ConfigPage(board).get().status == 200
    assert not board.events("wifi"), "no connection is attempted with an unusable identity"


BROKEN_REGISTER = b"""
def register(app):
    raise OSError(5, "flash read failed")
"""


@pytest.mark.board_files({"services.py": BROKEN_REGISTER})
def test_services_that_fail_to_register_leave_the_board_detecting_clicks(board: Board) -> None:
    error = board.expect("error", WAIT_S, code="services_register")
    assert "OSError" in error["msg"], error
    board.expect("led", WAIT_S, pattern="unconfigured")
    board.press(gestures.single(100))
    assert board.expect("click", WAIT_S)["type"] == "SINGLE"
