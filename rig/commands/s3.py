"""`buttonrig s3 mb|cp|ls|rm`: aws-cli's high-level S3 verbs on the rig's object store (the
moto server a running cloud starts, rig/cloud/objects), through boto3.

As aws-cli: `mb s3://bucket` prints `make_bucket: bucket`; `cp` copies a local file to
`s3://bucket/[key]` (a key ending in `/`, or none, takes the file's name), an object to a local
path (`-` is stdout) or an object to another, printing `upload: …`, `download: …` or `copy: …`;
`ls` lists the buckets (date and name), or a bucket's keys under a prefix (date, size, key, and
`PRE dir/` for a common prefix), `--recursive` every key; `rm s3://bucket/key` deletes one
object, `--recursive` every one under the prefix (`--include`/`--exclude` patterns filter by key,
`--exclude` first as aws-cli applies them in order).
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
from pathlib import Path
from typing import Any

from rig.commands.errors import CommandError


def _client(args: argparse.Namespace) -> Any:
    from rig.cloud.objects.client import ObjectStoreUnavailable, s3_client, url_of_home

    try:
        return s3_client(url_of_home(args.home))
    except ObjectStoreUnavailable as exc:
        raise CommandError(exc.message) from exc


def _split(url: str) -> tuple[str, str]:
    from rig.cloud.objects.client import split_s3_url

    try:
        return split_s3_url(url)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc


def _call(what: str, function: Any, **kwargs: Any) -> Any:
    from botocore.exceptions import ClientError

    try:
        return function(**kwargs)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise CommandError(
            f"An error occurred ({error.get('Code', 'Unknown')}) when calling the"
            f" {exc.operation_name} operation: {error.get('Message', '')} ({what})"
        ) from exc


def make_bucket(args: argparse.Namespace) -> int:
    bucket, key = _split(args.path)
    if key:
        raise CommandError(f"make_bucket failed: {args.path}: give a bucket only (s3://bucket)")
    client = _client(args)
    _call(f"make_bucket failed: {args.path}", client.create_bucket, Bucket=bucket)
    print(f"make_bucket: {bucket}")
    return 0


def copy(args: argparse.Namespace) -> int:
    client = _client(args)
    source, target = args.source, args.target
    if not source.startswith("s3://") and target.startswith("s3://"):
        path = Path(source).expanduser()
        if not path.is_file():
            raise CommandError(f"The user-provided path {source} does not exist.")
        bucket, key = _split(target)
        if not key or key.endswith("/"):
            key += path.name
        _call("upload", client.put_object, Bucket=bucket, Key=key, Body=path.read_bytes())
        print(f"upload: {source} to s3://{bucket}/{key}")
    elif source.startswith("s3://") and not target.startswith("s3://"):
        bucket, key = _split(source)
        body = _call("download", client.get_object, Bucket=bucket, Key=key)["Body"].read()
        if target == "-":
            sys.stdout.buffer.write(body)
            sys.stdout.flush()
            return 0
        path = Path(target).expanduser()
        if path.is_dir():
            path = path / key.rsplit("/", 1)[-1]
        path.write_bytes(body)
        print(f"download: {source} to {target}")
    elif source.startswith("s3://") and target.startswith("s3://"):
        from_bucket, from_key = _split(source)
        bucket, key = _split(target)
        if not key or key.endswith("/"):
            key += from_key.rsplit("/", 1)[-1]
        _call(
            "copy",
            client.copy_object,
            Bucket=bucket,
            Key=key,
            CopySource={"Bucket": from_bucket, "Key": from_key},
        )
        print(f"copy: {source} to s3://{bucket}/{key}")
    else:
        raise CommandError("cp: one of the two paths must be an s3:// URL")
    return 0


def _stamp(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


def _keys(client: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    paginator = client.get_paginator("list_objects_v2")
    for page in _call("ls", paginator.paginate, Bucket=bucket, Prefix=prefix):
        items.extend(page.get("Contents", []))
    return items


def list_objects(args: argparse.Namespace) -> int:
    client = _client(args)
    if not args.path:
        for bucket in _call("ls", client.list_buckets).get("Buckets", []):
            print(f"{_stamp(bucket['CreationDate'])} {bucket['Name']}")
        return 0
    bucket, prefix = _split(args.path)
    if args.recursive:
        for item in _keys(client, bucket, prefix):
            print(f"{_stamp(item['LastModified'])} {item['Size']:>10} {item['Key']}")
        return 0
    paginator = client.get_paginator("list_objects_v2")
    for page in _call("ls", paginator.paginate, Bucket=bucket, Prefix=prefix, Delimiter="/"):
        for common in page.get("CommonPrefixes", []):
            print(
                f"{'PRE':>30} {common['Prefix'][len(prefix) - len(prefix.rsplit('/', 1)[-1]) :]}"
            )
        for item in page.get("Contents", []):
            name = item["Key"][len(prefix) - len(prefix.rsplit("/", 1)[-1]) :]
            print(f"{_stamp(item['LastModified'])} {item['Size']:>10} {name}")
    return 0


def _wanted(key: str, filters: list[tuple[str, str]]) -> bool:
    """aws-cli's --exclude/--include: applied in order, the last match decides."""
    keep = True
    for kind, pattern in filters:
        if fnmatch.fnmatchcase(key, pattern):
            keep = kind == "include"
    return keep


def remove(args: argparse.Namespace) -> int:
    client = _client(args)
    bucket, key = _split(args.path)
    if not args.recursive:
        if not key:
            raise CommandError(f"rm: {args.path} names no object (use --recursive for all)")
        _call("delete", client.delete_object, Bucket=bucket, Key=key)
        print(f"delete: s3://{bucket}/{key}")
        return 0
    for item in _keys(client, bucket, key):
        if _wanted(item["Key"][len(key) :], args.filters or []):
            _call("delete", client.delete_object, Bucket=bucket, Key=item["Key"])
            print(f"delete: s3://{bucket}/{item['Key']}")
    return 0


class _Filter(argparse.Action):
    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        del parser
        filters = list(getattr(namespace, self.dest) or [])
        filters.append(("include" if option == "--include" else "exclude", str(values)))
        setattr(namespace, self.dest, filters)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "s3", help="aws s3 mb|cp|ls|rm on the rig's object store (needs a running cloud)"
    )
    verbs = parser.add_subparsers(dest="s3_command", metavar="VERB", required=True)
    mb = verbs.add_parser("mb", help="make a bucket: s3://bucket", allow_abbrev=False)
    mb.add_argument("path")
    mb.set_defaults(handler=make_bucket)
    cp = verbs.add_parser("cp", help="copy a file or object", allow_abbrev=False)
    cp.add_argument("source")
    cp.add_argument("target")
    cp.set_defaults(handler=copy)
    ls = verbs.add_parser("ls", help="list buckets, or a bucket's objects", allow_abbrev=False)
    ls.add_argument("path", nargs="?")
    ls.add_argument("--recursive", action="store_true")
    ls.set_defaults(handler=list_objects)
    rm = verbs.add_parser("rm", help="delete an object (--recursive: many)", allow_abbrev=False)
    rm.add_argument("path")
    rm.add_argument("--recursive", action="store_true")
    rm.add_argument("--include", dest="filters", action=_Filter)
    rm.add_argument("--exclude", dest="filters", action=_Filter)
    rm.set_defaults(handler=remove)
