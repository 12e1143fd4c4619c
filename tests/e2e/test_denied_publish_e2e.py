"""A click the board's policy does not allow to publish: the real firmware against the real broker
and the cloud's enforcement (rig/cloud/auth/enforcer.py).

mosquitto acknowledges the denied QoS 1 PUBLISH and drops it; the cloud reads the denial from the
broker's log and closes the board's session a few ms later (AWS IoT closes it without a PUBACK).
The firmware keeps an acknowledged click on its flash for a grace period (outbox.ClickSender.GRACE_MS), so
the close sends it again on the next session; the second such close in a row is a refusal: the
LED shows err_forbidden (long, short, long) and the click stays on the flash. Once a policy allows
the topic, the click reaches the cloud, once (docs/connectivity-integration.md, Decisions).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from connectivity_kit import WAIT_S, assert_no_leaks, connected, run_logs
from red_codes import wait_for_code

from rig import gestures
from rig.cloud.clicks.store import ClickLog
from rig.cloud.core import arn
from rig.cloud.runtime import CloudRuntime
from rig.pytest_plugin.boards import BoardFactory

pytestmark = pytest.mark.e2e

# refused sessions back off 2-4 s, 4-8 s, ...: a few rounds may pass before the fix is seen
RECOVERY_S = 2 * WAIT_S


def outbox_event_ids(flash: Path) -> list[str]:
    """eventIds of the click messages on the board's flash (outbox.q/*.msg)."""
    ids = []
    for path in sorted((flash / "outbox.q").glob("*.msg")):
        _, _, payload = path.read_bytes().partition(b"\n")
        ids.append(json.loads(payload)["eventId"])
    return ids


def test_a_denied_click_shows_forbidden_stays_on_flash_and_arrives_once_allowed(
    boards: BoardFactory, cloud_runtime: CloudRuntime
) -> None:
    board, setup = connected(boards, cloud_runtime)
    api = cloud_runtime.cloud
    clicks = ClickLog(api.store)
    connect_only = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "iot:Connect", "Resource": arn.client_arn(setup.serial)}
        ],
    }
    api.create_policy_version(setup.policy_name, json.dumps(connect_only), set_as_default=True)
    board.console.skip_to_end()
    trace_start = len(board.trace.items())

    board.press(gestures.single(120))
    click = board.expect("click", WAIT_S)
    board.expect("mqtt", WAIT_S, published=f"iotbutton/{setup.serial}")  # PUBACKed, dropped
    acked_at = time.monotonic()
    first = board.expect("mqtt", WAIT_S, state="down")
    kicked_after_s = time.monotonic() - acked_at
    assert first["kind"] == "closed", f"the cloud's close, once, is not yet a refusal: {first}"
    board.expect("outbox", WAIT_S, requeued=1)
    refused = board.expect("mqtt", WAIT_S, state="down", kind="forbidden")
    assert refused["msg"] == "closed after a click's PUBACK, 2 in a row", refused
    board.expect("led", WAIT_S, pattern="err_forbidden")
    passes = wait_for_code(board, "err_forbidden", trace_start, WAIT_S)

    # refused: on the flash, not at the cloud, sent again on every session (same eventId)
    assert click["id"] in outbox_event_ids(board.flash)
    assert click["id"] not in [c.event_id for c in clicks.clicks(setup.serial)]

    # A policy that allows the click topic, attached to the certificate: the cloud regenerates
    # the broker's ACL; the board's next session delivers the click.
    api.create_policy(f"{setup.serial}-clicks", api_document_publish(setup.serial))
    api.attach_policy(f"{setup.serial}-clicks", setup.certificate_arn)
    got = clicks.wait_for_ids(setup.serial, [click["id"]], RECOVERY_S)
    deadline = time.monotonic() + WAIT_S
    while outbox_event_ids(board.flash):  # settled once the grace is over
        assert time.monotonic() < deadline, f"still on the flash: {outbox_event_ids(board.flash)}"
        time.sleep(0.1)
    assert [(c.event_id, c.copies) for c in got] == [(click["id"], 1)]  # exactly once
    assert [c.event_id for c in clicks.clicks(setup.serial)].count(click["id"]) == 1
    enforcer = cloud_runtime.enforcer
    assert enforcer is not None
    kicks = enforcer.kicked.count(setup.serial)
    assert kicks >= 2, f"the cloud closed the session {kicks} times: {enforcer.kicked}"
    print(
        f"kicked {kicked_after_s * 1000:.0f} ms after the PUBACK (host clock, console latency "
        f"included); red passes {passes}; cloud disconnects {kicks}"
    )
    assert_no_leaks(setup.secrets, board.console_text(), *run_logs(cloud_runtime, board))


def api_document_publish(serial: str) -> str:
    """A policy that allows publishing the board's click topic, nothing else."""
    statement = {
        "Effect": "Allow",
        "Action": "iot:Publish",
        "Resource": arn.topic_arn(f"iotbutton/{serial}"),
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})
