"""Bring a set-up button into AWS IoT 1-Click's "placed and enabled" state, as the dumpster
walkthrough does it: claim by a real press between initiate and finalize, a project whose device
template's onClickCallback is a function, a placement, the device associated and enabled. Used by
the demo and the click-to-callback benchmark (the tests play the walkthrough step by step)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rig import gestures
from rig.cloud.api import Cloud
from rig.cloud.clicks.store import ClickLog
from rig.cloud.core.errors import CloudError
from rig.drivers.emulated import EmulatedBoard

WAIT_S = 30.0


@dataclass(frozen=True)
class Placement:
    project: str
    placement: str
    template: str
    attributes: dict[str, str]


def claim_and_place(
    cloud: Cloud, board: EmulatedBoard, serial: str, callback_arn: str, where: Placement
) -> None:
    """The button `serial` (connected) claimed by a press, placed at `where` with `callback_arn`
    as its template's onClickCallback, and enabled."""
    devices, projects = cloud.oneclick.devices, cloud.oneclick.projects
    try:  # claimed before (a kept rig home): released first, as its owner would
        devices.describe_device(serial)
        devices.unclaim_device(serial)
    except CloudError:
        pass  # not claimed: the usual case
    devices.initiate_device_claim(serial)
    board.press(gestures.single(120))
    click: dict[str, Any] = board.expect("click", WAIT_S, type="SINGLE")
    ClickLog(cloud.store).wait_for_ids(serial, [click["id"]], WAIT_S)
    board.expect("led", WAIT_S, pattern="off")  # the green light is over before the next press
    devices.finalize_device_claim(serial)
    template = {
        "deviceTemplates": {
            where.template: {
                "deviceType": "button",
                "callbackOverrides": {"onClickCallback": callback_arn},
            }
        }
    }
    projects.create_project(where.project, placement_template=template)
    projects.create_placement(where.project, where.placement, where.attributes)
    projects.associate_device_with_placement(
        where.project, where.placement, serial, where.template
    )
    devices.update_device_state(serial, enabled=True)
