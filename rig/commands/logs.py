"""`buttonrig logs tail LOG_GROUP [--follow] [--since 10m] [--format detailed|short]`: the local
Lambda functions' logs (log group /aws/lambda/<name>), as aws-cli v2's `aws logs tail` prints
them: `<timestamp> <log stream> <message>` (detailed) or `<timestamp> <message>` (short)."""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any

from rig.cloud.api import Cloud
from rig.commands.errors import CommandError

UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
FOLLOW_POLL_S = 0.2


def _since_ms(text: str) -> int:
    match = re.fullmatch(r"(\d+)([smhdw])", text)
    if match:
        return int((time.time() - int(match.group(1)) * UNITS_S[match.group(2)]) * 1000)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(
            f"logs tail: --since {text!r}: give a relative time (30s, 10m, 1h, 2d, 1w) or an"
            " ISO 8601 timestamp"
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _line(row: Any, form: str) -> str:
    stamp = datetime.fromtimestamp(row["timestamp_ms"] / 1000, UTC)
    if form == "short":
        return f"{stamp.strftime('%Y-%m-%dT%H:%M:%S')} {row['message']}"
    return f"{stamp.isoformat(timespec='microseconds')} {row['log_stream']} {row['message']}"


def _tail(args: argparse.Namespace) -> int:
    cloud = Cloud(args.home)
    try:
        store = cloud.functions.store
        group: str = args.group_name
        name = group.removeprefix("/aws/lambda/")
        known = group.startswith("/aws/lambda/") and store.configuration(name) is not None
        if not known and not store.log_group_exists(group):
            raise CommandError(
                "An error occurred (ResourceNotFoundException) when calling the"
                " FilterLogEvents operation: The specified log group does not exist."
            )
        since = _since_ms(args.since)
        last = 0
        while True:
            for row in store.log_events(group, last, since):
                print(_line(row, args.format), flush=args.follow)
                last = row["seq"]
            if not args.follow:
                return 0
            time.sleep(FOLLOW_POLL_S)
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        sys.stderr.close()  # a reader that went away (`| head`): no traceback
        return 0
    finally:
        cloud.close()


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "logs", help="CloudWatch Logs look-alike (aws logs …): the functions' logs"
    )
    commands = parser.add_subparsers(dest="operation", metavar="OPERATION", required=True)
    tail = commands.add_parser("tail", help="print a log group's events", allow_abbrev=False)
    tail.add_argument("group_name", metavar="LOG_GROUP", help="e.g. /aws/lambda/<function>")
    tail.add_argument("--follow", action="store_true", help="keep printing new events")
    tail.add_argument("--since", default="10m", help="from when (default 10m)")
    tail.add_argument("--format", choices=("detailed", "short"), default="detailed")
    tail.set_defaults(handler=_tail)
