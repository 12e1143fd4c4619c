"""Every failure class of the connection chain shows its LED code, and the board recovers once
the fault is gone; clicks made meanwhile reach the cloud once after the recovery.

Radio faults come from the board's virtual radio (wrong password, AP gone, no DHCP lease);
the others are real: an unresolvable endpoint, a closed port, a CA that does not verify the
broker, a certificate the broker refuses (inactive, revoked, or a policy without iot:Connect).
"""

from __future__ import annotations

import json
import socket

import pytest
from cert_kit import PEM, ThrowawayCa
from connectivity_kit import WAIT_S, assert_no_leaks, connected, run_logs

from rig import gestures
from rig.cloud.api import button_policy_document
from rig.cloud.clicks.store import ClickLog
from rig.cloud.runtime import CloudRuntime
from rig.drivers.emulated import EmulatedBoard
from rig.pytest_plugin.boards import BoardFactory
from rig.strategies.provisioning import (
    FilePart,
    Provisioned,
    endpoint_text,
    reconfigure,
    set_radio,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DHCP_WAIT_S = 90.0  # the station gives up on a lease after 20 s, then backs off


def expect_fault(board: EmulatedBoard, pattern: str, timeout: float = WAIT_S) -> None:
    """The LED shows `pattern` (and the console says so)."""
    board.expect("led", timeout, pattern=pattern)


def expect_recovered(board: EmulatedBoard, timeout: float = WAIT_S) -> None:
    board.expect("mqtt", timeout, state="up")


def press_and_expect_at_cloud(board: EmulatedBoard, clicks: ClickLog, serial: str) -> None:
    board.press(gestures.single(120))
    click = board.expect("click", WAIT_S)
    assert click["type"] == "SINGLE", click
    clicks.wait_for_ids(serial, [click["id"]], WAIT_S)


def all_clicks_once(board: EmulatedBoard, clicks: ClickLog, serial: str) -> None:
    """Every click the board printed is at the cloud exactly once, none other."""
    ids = [c["id"] for c in board.events("click")]
    got = clicks.wait_for_ids(serial, ids, WAIT_S)
    assert sorted(c.event_id for c in got) == sorted(ids), (got, ids)


def test_radio_faults_wrong_password_ap_gone_no_dhcp(
    boards: BoardFactory, cloud_runtime: CloudRuntime
) -> None:
    board, setup = connected(boards, cloud_runtime)
    clicks = ClickLog(cloud_runtime.cloud.store)
    net = setup.network

    # The router's password changed: the station loses the link and cannot join again.
    set_radio(board, [net.ap(password="another password")])
    down = board.expect("wifi", WAIT_S, state="down")
    assert down["kind"] == "wifi" and down["msg"] == "wrong password", down
    expect_fault(board, "err_wifi")
    board.press(gestures.single(120))  # a click while offline waits in the outbox
    board.expect("click", WAIT_S)
    set_radio(board, [net.ap()])
    expect_recovered(board)
    all_clicks_once(board, clicks, setup.serial)

    # The access point is gone (out of range), then back.
    set_radio(board, [])
    board.expect("wifi", WAIT_S, state="lost")
    down = board.expect("wifi", WAIT_S, state="down")
    assert down["kind"] == "wifi" and down["msg"] == "no access point", down
    expect_fault(board, "err_wifi")
    set_radio(board, [net.ap()])
    expect_recovered(board)

    # Associated, but no DHCP lease.
    set_radio(board, [net.ap(dhcp=False)])
    down = board.expect("wifi", DHCP_WAIT_S, state="down")
    assert down["kind"] == "dhcp", down
    expect_fault(board, "err_dhcp")
    set_radio(board, [net.ap()])
    expect_recovered(board, DHCP_WAIT_S)
    press_and_expect_at_cloud(board, clicks, setup.serial)
    all_clicks_once(board, clicks, setup.serial)
    assert_no_leaks(setup.secrets, board.console_text(), *run_logs(cloud_runtime, board))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nobody listens there once the socket is closed


def test_endpoint_faults_dns_closed_port_untrusted_broker(
    boards: BoardFactory, cloud_runtime: CloudRuntime
) -> None:
    board, setup = connected(boards, cloud_runtime)
    clicks = ClickLog(cloud_runtime.cloud.store)
    assert cloud_runtime.endpoint is not None
    good = endpoint_text(cloud_runtime.endpoint)

    # Each change goes through the config page (a 6 s hold: its LONG click waits in the outbox).
    reconfigure(board, {"endpoint": f"button-broker.invalid:{cloud_runtime.endpoint.port}"})
    down = board.expect("mqtt", WAIT_S, state="down")
    assert down["kind"] == "dns", down
    expect_fault(board, "err_dns")

    reconfigure(board, {"endpoint": f"localhost:{_closed_port()}"})
    down = board.expect("mqtt", WAIT_S, state="down")
    assert down["kind"] == "connect", down
    expect_fault(board, "err_connect")

    other_ca = FilePart("OtherRootCA.pem", ThrowawayCa().cert_bytes(PEM))
    reconfigure(board, {"endpoint": good, "ca": other_ca})
    down = board.expect("mqtt", WAIT_S, state="down")
    assert down["kind"] == "tls", down
    expect_fault(board, "err_tls")

    ca = FilePart("AmazonRootCA1.pem", cloud_runtime.cloud.ca.certificate_pem.encode())
    reconfigure(board, {"ca": ca})
    expect_recovered(board)
    holds = board.events("click")
    assert [c["type"] for c in holds] == ["LONG"] * 4, holds  # the four holds
    all_clicks_once(board, clicks, setup.serial)
    assert_no_leaks(setup.secrets, board.console_text(), *run_logs(cloud_runtime, board))


def _reconnect(board: EmulatedBoard) -> None:
    """The broker keeps open connections when a certificate changes (UpdateCertificate): the
    board meets the change at its next connection, after a reset."""
    board.reset()
    board.expect("boot", WAIT_S, reset="hard")


def _set_connect(cloud_runtime: CloudRuntime, setup: Provisioned, allowed: bool) -> None:
    document = json.loads(button_policy_document(setup.serial))
    if not allowed:
        document["Statement"] = [s for s in document["Statement"] if s["Action"] != "iot:Connect"]
    cloud_runtime.cloud.create_policy_version(
        setup.policy_name, json.dumps(document), set_as_default=True
    )


def test_forbidden_inactive_revoked_and_no_connect_policy(
    boards: BoardFactory, cloud_runtime: CloudRuntime
) -> None:
    board, setup = connected(boards, cloud_runtime)
    clicks = ClickLog(cloud_runtime.cloud.store)
    api = cloud_runtime.cloud

    api.update_certificate(setup.certificate_id, "INACTIVE")
    _reconnect(board)
    down = board.expect("mqtt", WAIT_S, state="down")
    assert down["kind"] == "forbidden", down
    expect_fault(board, "err_forbidden")
    api.update_certificate(setup.certificate_id, "ACTIVE")
    expect_recovered(board)

    _set_connect(cloud_runtime, setup, allowed=False)
    _reconnect(board)
    down = board.expect("mqtt", WAIT_S, state="down")
    assert down["kind"] == "forbidden", down
    expect_fault(board, "err_forbidden")
    _set_connect(cloud_runtime, setup, allowed=True)
    expect_recovered(board)

    api.update_certificate(setup.certificate_id, "REVOKED")
    _reconnect(board)
    down = board.expect("mqtt", WAIT_S, state="down")
    assert down["kind"] == "forbidden", down
    expect_fault(board, "err_forbidden")
    # A revoked certificate stays revoked: the customer installs a new one.
    fresh = api.provision_button(setup.serial)
    reconfigure(
        board,
        {
            "cert": FilePart("new-certificate.pem.crt", fresh["certificatePem"].encode()),
            "key": FilePart("new-private.pem.key", fresh["privateKeyPem"].encode()),
        },
    )
    expect_recovered(board)
    press_and_expect_at_cloud(board, clicks, setup.serial)
    all_clicks_once(board, clicks, setup.serial)
    assert_no_leaks(setup.secrets, board.console_text(), *run_logs(cloud_runtime, board))
