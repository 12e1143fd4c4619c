"""The real firmware against the cloud's enforcement (rig/cloud/enforcer.py): once its policy no
longer allows its click topic, a press gets the board disconnected, and it connects again.

What the board shows for it is not asserted here: the broker PUBACKs the denied publish before
the cloud closes the session, so the firmware's "clean close within 2 s of an unanswered request"
rule does not classify it as forbidden (docs/cloud-decisions.md, "Disconnect after a denied
request")."""

from __future__ import annotations

import json
import time

import pytest
from connectivity_kit import WAIT_S, connected

from rig import gestures
from rig.cloud import arn
from rig.cloud.runtime import CloudRuntime
from rig.pytest_plugin import BoardFactory

pytestmark = pytest.mark.e2e


def test_press_outside_the_policy_gets_the_board_disconnected(
    boards: BoardFactory, cloud_runtime: CloudRuntime
) -> None:
    board, setup = connected(boards, cloud_runtime)
    connect_only = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "iot:Connect", "Resource": arn.client_arn(setup.serial)}
        ],
    }
    cloud_runtime.cloud.create_policy_version(
        setup.policy_name, json.dumps(connect_only), set_as_default=True
    )
    board.console.skip_to_end()

    board.press(gestures.single(120))
    board.expect("mqtt", WAIT_S, published=f"iotbutton/{setup.serial}")  # PUBACKed, dropped
    down = board.expect("mqtt", WAIT_S, state="down")
    assert down["msg"] == "eof", f"closed by the cloud's takeover, saw {down}"
    board.expect("mqtt", WAIT_S, state="up")  # its next session is let in
    enforcer = cloud_runtime.enforcer
    assert enforcer is not None
    deadline = time.monotonic() + WAIT_S
    while setup.serial not in enforcer.kicked:  # recorded once the takeover has ended
        assert time.monotonic() < deadline, f"the cloud did not disconnect it: {enforcer.kicked}"
        time.sleep(0.02)
