"""`buttonrig sts get-caller-identity` (aws-cli's): the account the reference cloud's ARNs name.
The workshop reads `.Account` from it to write its policies' and rules' ARNs (§5.7, §5.10).
There is no IAM here: the caller is the account's root user."""

from __future__ import annotations

from typing import Any

from rig.cloud.core import arn
from rig.commands.awscli import Operation, add_operations

CALLER = {
    "UserId": arn.ACCOUNT,  # the root user's id is the account id
    "Account": arn.ACCOUNT,
    "Arn": f"arn:aws:iam::{arn.ACCOUNT}:root",
}

OPERATIONS = [
    Operation(
        "get-caller-identity",
        "GetCallerIdentity",
        (),
        lambda _cloud, _kw: dict(CALLER),
        help="the account id the cloud's ARNs use",
    )
]


def register(subparsers: Any) -> None:
    add_operations(
        subparsers, "sts", "AWS STS look-alike (aws sts …): who the caller is", OPERATIONS
    )
