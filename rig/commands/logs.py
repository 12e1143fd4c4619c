"""`buttonrig logs tail LOG_GROUP [--follow] [--since 10m] [--format detailed|short]`: the local
Lambda functions' logs (log group /aws/lambda/<name>), as aws-cli v2's `aws logs tail` prints
them: `<timestamp> <log stream> <message>` (detailed) or `<timestamp> <message>` (short).

`buttonrig logs filter-log-events --log-group-name G [--start-time MS] [--end-time MS]
[--filter-pattern P]`: the events of a functions' log group or of the cloud's own AWSIotLogsV2
(the workshop's fine-grained logging searches, `{$.logLevel = INFO}`), in FilterLogEvents'
response shape (rig/commands/log_filter.py for the patterns; docs/cloud-decisions.md LG-5)."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any

from rig.cloud.api import Cloud
from rig.cloud.logging_options.log import LOG_GROUP as IOT_LOG_GROUP
from rig.commands.awscli import print_response
from rig.commands.errors import CommandError
from rig.commands.log_filter import PatternError, compile_pattern

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


def _filter_error(code: str, message: str) -> CommandError:
    return CommandError(
        f"An error occurred ({code}) when calling the FilterLogEvents operation: {message}"
    )


def _iot_log_events(cloud: Cloud) -> list[tuple[str, int, str]]:
    """(log stream, timestamp ms, message) of each AWSIotLogsV2 record (one stream: ours)."""
    events = []
    path = cloud.iot_log.path
    lines = path.read_text().splitlines() if path.exists() else []
    for line in lines:
        try:
            stamp = json.loads(line)["timestamp"]  # "YYYY-mm-dd HH:MM:SS.mmm", UTC
            when = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by a crash: not an event
        events.append((IOT_LOG_GROUP, int(when.timestamp() * 1000), line))
    return events


def _filter_log_events(args: argparse.Namespace) -> int:
    try:
        match = compile_pattern(args.filter_pattern)
    except PatternError as exc:
        raise _filter_error("InvalidParameterException", str(exc)) from None
    cloud = Cloud(args.home)
    try:
        group: str = args.log_group_name
        store = cloud.functions.store
        if group == IOT_LOG_GROUP and cloud.iot_log.path.exists():
            events = _iot_log_events(cloud)
        elif store.log_group_exists(group):
            events = [
                (row["log_stream"], row["timestamp_ms"], row["message"])
                for row in store.log_events(group, 0)
            ]
        else:
            raise _filter_error(
                "ResourceNotFoundException", "The specified log group does not exist."
            )
    finally:
        cloud.close()
    start = args.start_time if args.start_time is not None else 0
    end = args.end_time if args.end_time is not None else None
    found = [
        {
            "logStreamName": stream,
            "timestamp": stamp,
            "message": message,
            "ingestionTime": stamp,
            "eventId": f"{stamp:020d}{index:016d}",
        }
        for index, (stream, stamp, message) in enumerate(events)
        if stamp >= start and (end is None or stamp <= end) and match(message)
    ]
    print_response({"events": found, "searchedLogStreams": []})
    return 0


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
    search = commands.add_parser(
        "filter-log-events", help="a log group's events, filtered", allow_abbrev=False
    )
    search.add_argument("--log-group-name", required=True, help="AWSIotLogsV2 or /aws/lambda/…")
    search.add_argument("--start-time", type=int, help="ms since the epoch")
    search.add_argument("--end-time", type=int, help="ms since the epoch")
    search.add_argument("--filter-pattern", help='e.g. "{$.logLevel = INFO}"')
    search.set_defaults(handler=_filter_log_events)
