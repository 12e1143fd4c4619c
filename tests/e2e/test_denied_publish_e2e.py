"""A click the board's policy does not allow to publish: the real firmware against the real broker
and its plugin (rig/broker_plugin/buttonrig_auth.c).

As AWS IoT, the broker closes the board's session without a PUBACK for the refused QoS 1 PUBLISH.
One such close is `closed` (a restart right after a publish looks the same); the same click sent
again (same eventId, DUP) on the next session and closed again unanswered is a refusal: the LED
shows err_forbidden (long, short, long) and the click stays on the flash, sent again on every
session. Once a policy allows the topic, the click reaches the cloud, once, and leaves the flash
at its PUBACK (docs/connectivity-integration.md, Decisions).
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
    first = board.expect("mqtt", WAIT_S, state="down")
    assert (first["kind"], first["msg"]) == ("closed", "closed after a publish, no PUBACK"), first
    refused = board.expect("mqtt", WAIT_S, state="down")
    assert refused["kind"] == "forbidden", refused
    assert refused["msg"] == "closed twice after the same publish, no PUBACK", refused
    board.expect("led", WAIT_S, pattern="err_forbidden")
    passes = wait_for_code(board, "err_forbidden", trace_start, WAIT_S)

    # refused: on the flash, not at the cloud, sent again on every session (same eventId)
    assert click["id"] in outbox_event_ids(board.flash)
    assert click["id"] not in [c.event_id for c in clicks.clicks(setup.serial)]

    # A policy that allows the click topic, attached to the certificate: the broker plugin asks
    # again at the board's next CONNECT; that session delivers the click.
    api.create_policy(f"{setup.serial}-clicks", api_document_publish(setup.serial))
    api.attach_policy(f"{setup.serial}-clicks", setup.certificate_arn)
    got = clicks.wait_for_ids(setup.serial, [click["id"]], RECOVERY_S)
    deadline = time.monotonic() + WAIT_S
    while outbox_event_ids(board.flash):  # removed at its PUBACK
        assert time.monotonic() < deadline, f"still on the flash: {outbox_event_ids(board.flash)}"
        time.sleep(0.1)
    assert [(c.event_id, c.copies) for c in got] == [(click["id"], 1)]  # exactly once
    assert [c.event_id for c in clicks.clicks(setup.serial)].count(click["id"]) == 1
    print(f"red passes {passes}")
    assert_no_leaks(setup.secrets, board.console_text(), *run_logs(cloud_runtime, board))


def api_document_publish(serial: str) -> str:
    """A policy that allows publishing the board's click topic, nothing else."""
    statement = {
        "Effect": "Allow",
        "Action": "iot:Publish",
        "Resource": arn.topic_arn(f"iotbutton/{serial}"),
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})
