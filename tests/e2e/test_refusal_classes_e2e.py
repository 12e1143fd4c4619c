"""TLS refusals on a real board against the real broker, classified by firmware/mqtt.py itself:
the broker refusing our certificate (here: revoked; the broker plugin ends the open connection and
answers the next CONNECT with CONNACK 5) is `forbidden` (err_forbidden, long-short-long); our own refusal of the broker's certificate
(the endpoint named `127.1`: the same broker and CA, a name its certificate does not carry) stays
`tls` (err_tls, long-short-short). Both LED codes are read from the board's LED trace."""

from __future__ import annotations

import pytest
from connectivity_kit import WAIT_S, assert_no_leaks, connected, run_logs
from red_codes import wait_for_code

from rig.cloud.runtime import CloudRuntime
from rig.pytest_plugin.boards import BoardFactory
from rig.strategies.provisioning import endpoint_text, reconfigure

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_revoked_certificate_is_forbidden_and_a_wrong_broker_name_is_tls(
    boards: BoardFactory, cloud_runtime: CloudRuntime
) -> None:
    board, setup = connected(boards, cloud_runtime)
    assert cloud_runtime.endpoint is not None

    # 127.1 is 127.0.0.1 (the broker's address), but the broker's certificate names localhost
    # and 127.0.0.1 only: the board refuses it, before sending its own.
    since = len(board.trace.items())
    reconfigure(board, {"endpoint": f"127.1:{cloud_runtime.endpoint.port}"})
    down = board.expect("mqtt", WAIT_S, state="down")
    assert down["kind"] == "tls" and "does not match" in down["msg"], down
    board.expect("led", WAIT_S, pattern="err_tls")
    wait_for_code(board, "err_tls", since, WAIT_S)
    reconfigure(board, {"endpoint": endpoint_text(cloud_runtime.endpoint)})
    board.expect("mqtt", WAIT_S, state="up")

    # Revoked: the broker plugin refuses the certificate at CONNECT, after the TLS handshake.
    since = len(board.trace.items())
    cloud_runtime.cloud.update_certificate(setup.certificate_id, "REVOKED")
    mark = board.console.mark()
    board.reset()
    board.expect("boot", WAIT_S, reset="hard")
    down = board.expect("mqtt", WAIT_S, state="down")
    assert down["kind"] == "forbidden", down
    board.expect("led", WAIT_S, pattern="err_forbidden")
    wait_for_code(board, "err_forbidden", since, WAIT_S)
    sessions = [e.get("state") for e in board.console.events_since(mark, "mqtt")]
    assert "up" not in sessions, f"a revoked certificate got a session: {sessions}"
    assert_no_leaks(setup.secrets, board.console_text(), *run_logs(cloud_runtime, board))
