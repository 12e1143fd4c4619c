"""`buttonrig clicks [--serial DSN]`: the click messages the reference cloud received.

Reads the cloud's click log (rig/cloud/clicks/: one entry per eventId, with how many
copies arrived) from `<home>/cloud/state.db`; works whether or not `buttonrig cloud up` runs.
Prints a JSON array, oldest first: each click message as received, plus `topic`, `receivedTime`
and `copies`.
"""

from __future__ import annotations

import argparse
import datetime
import json
from typing import Any


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("clicks", help="click messages received by the cloud")
    parser.add_argument("--serial", help="only this device's clicks (its serial number, DSN)")
    parser.set_defaults(handler=list_clicks)


def list_clicks(args: argparse.Namespace) -> int:
    from rig.cloud.api import Cloud
    from rig.cloud.clicks.store import ClickLog

    cloud = Cloud(args.home)
    try:
        clicks = ClickLog(cloud.store).clicks(args.serial)
    finally:
        cloud.close()
    rows: list[dict[str, Any]] = [
        {
            "topic": click.topic,
            "message": click.payload,
            "receivedTime": _iso(click.received_ms),
            "copies": click.copies,
        }
        for click in clicks
    ]
    print(json.dumps(rows, indent=2))
    return 0


def _iso(epoch_ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(epoch_ms / 1000, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"
