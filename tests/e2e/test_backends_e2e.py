"""The same button, set up and observed through the backend interface (rig/backends), so the
test runs unchanged against the local cloud (`--backend local`), against AWS IoT Core
(`--backend aws`) and, in CI, through the AWS backend's boto3 code against the local cloud's AWS
HTTP interface (`--backend aws-http`, `make test`'s second run).

Real firmware on the emulated board, the real broker (or AWS's), the real cloud.
"""

from __future__ import annotations

import pytest
from connectivity_kit import WAIT_S, emulated

from rig import gestures
from rig.backends.base import CloudBackend
from rig.pytest_plugin.boards import BoardFactory
from rig.strategies.provisioning import CustomerSetup

pytestmark = pytest.mark.e2e


def test_a_button_set_up_through_the_backend_delivers_each_click_once(
    boards: BoardFactory, cloud_backend: CloudBackend
) -> None:
    board = emulated(boards)
    done = CustomerSetup(cloud_backend).provision(board)
    assert cloud_backend.certificate_status(done.certificate_id) == "ACTIVE"
    assert done.certificate_arn in cloud_backend.thing_principals(done.serial)
    assert done.policy_name in cloud_backend.attached_policies(done.certificate_arn)

    board.press(gestures.single(120))
    board.expect("click", WAIT_S, type="SINGLE")
    board.press(gestures.double(110, 160, 110, lead_ms=600))
    board.expect("click", WAIT_S, type="DOUBLE")
    seen = cloud_backend.wait_for_clicks(done.serial, 2, WAIT_S)
    assert [c.click_type for c in seen] == ["SINGLE", "DOUBLE"], seen
    sent = [e["id"] for e in board.events("click")]
    assert [c.event_id for c in seen] == sent, (seen, sent)
    assert all(c.copies == 1 for c in seen), seen


def test_a_shadow_written_through_the_backend_is_read_back_with_its_version(
    cloud_backend: CloudBackend,
) -> None:
    thing = "backend-shadow-thing"
    cloud_backend.provision_board(thing)
    assert cloud_backend.get_shadow(thing) is None
    first = cloud_backend.update_shadow(thing, {"state": {"desired": {"double_ms": 500}}})
    assert first["version"] == 1 and first["state"] == {"desired": {"double_ms": 500}}
    shadow = cloud_backend.get_shadow(thing)
    assert shadow is not None
    assert shadow["state"]["delta"] == {"double_ms": 500}, shadow
    assert shadow["version"] == 1
