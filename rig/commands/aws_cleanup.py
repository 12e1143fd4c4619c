"""`buttonrig aws-cleanup --prefix rig-1a2b3c4d- [--endpoint-url URL]`: delete what a run of the
AWS backend (rig/backends/aws.py, `pytest --backend aws`) left in the account: its things (marked
with the attribute `buttonrig_run`) with their certificates, and the policies and jobs named with
its prefix. Uses boto3's credentials and region; prints what it deleted, one ARN per line."""

from __future__ import annotations

import argparse
import re

from rig.commands.errors import CommandError

PREFIX = re.compile(r"rig-[0-9a-f]{8}-")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "aws-cleanup", help="delete what a crashed `pytest --backend aws` run left in AWS"
    )
    parser.add_argument("--prefix", required=True, help="the run's prefix, e.g. rig-1a2b3c4d-")
    parser.add_argument("--endpoint-url", help="another implementation of AWS IoT's API")
    parser.set_defaults(handler=cleanup)


def cleanup(args: argparse.Namespace) -> int:
    if not PREFIX.fullmatch(args.prefix):
        raise CommandError(
            f"--prefix {args.prefix!r} is not a run prefix (rig-<8 hex digits>-): refusing to"
            " delete by it"
        )
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from rig.backends.cleanup import delete_run

    try:
        iot = boto3.client("iot", endpoint_url=args.endpoint_url)
        for deleted in delete_run(iot, args.prefix):
            print(deleted)
    except (BotoCoreError, ClientError) as exc:
        raise CommandError(f"aws-cleanup: {exc}") from exc
    return 0
