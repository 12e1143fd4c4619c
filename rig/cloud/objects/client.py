"""boto3 on the rig's object store: the endpoint a running cloud wrote in endpoint.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rig.cloud.core import arn, endpoint
from rig.cloud.core.errors import ServiceUnavailableException

ENDPOINT_KEY = "objects_url"
# moto accepts any credentials; fixed ones keep boto3 from looking for the user's (~/.aws)
CREDENTIALS = {"aws_access_key_id": "buttonrig", "aws_secret_access_key": "buttonrig"}


class ObjectStoreUnavailable(ServiceUnavailableException):
    """No cloud runs for the home, so no object store either."""


def s3_client(url: str) -> Any:
    """A boto3 S3 client on the object store at `url` (path-style addressing: bucket names are
    not resolvable host names here)."""
    from boto3.session import Session  # imported when used: the CLI starts without it
    from botocore.config import Config

    return Session().client(
        "s3",
        endpoint_url=url,
        region_name=arn.REGION,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        aws_access_key_id=CREDENTIALS["aws_access_key_id"],
        aws_secret_access_key=CREDENTIALS["aws_secret_access_key"],
    )


def url_of_home(home: Path) -> str:
    """The object store of the cloud running for `home`."""
    running = endpoint.running_cloud(home)
    if running is None or not running.get(ENDPOINT_KEY):
        raise ObjectStoreUnavailable(
            f"no object store (S3) runs for {home}: `buttonrig cloud up` starts one with the cloud"
        )
    return str(running[ENDPOINT_KEY])


def split_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/key` -> (bucket, key); the key may be empty (`s3://bucket` or `.../`)."""
    if not url.startswith("s3://"):
        raise ValueError(f"{url!r} is not an s3:// URL")
    bucket, _, key = url[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"{url!r} names no bucket")
    return bucket, key


class ObjectReader:
    """Reads objects from the home's running object store (the bulk tasks' input)."""

    def __init__(self, home: Path, url: str | None = None) -> None:
        self.home = home
        self.url = url  # the running cloud's own (known before endpoint.json is written)

    def client(self) -> Any:
        return s3_client(self.url or url_of_home(self.home))

    def read(self, bucket: str, key: str) -> bytes:
        return self.client().get_object(Bucket=bucket, Key=key)["Body"].read()

    def exists(self, bucket: str, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client().head_object(Bucket=bucket, Key=key)
        except ClientError:
            return False
        return True

    def publish(self, bucket: str, key: str, body: bytes, expires_s: int) -> str:
        """Store `body` and return a presigned GET URL for it (what a report link is)."""
        client = self.client()
        from botocore.exceptions import ClientError

        try:
            client.create_bucket(Bucket=bucket)
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou",):
                raise
        client.put_object(Bucket=bucket, Key=key, Body=body)
        return client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_s
        )
