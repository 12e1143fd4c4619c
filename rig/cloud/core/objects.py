"""The rig's S3 as the services read it (rig/cloud/objects/client.py ObjectReader implements it):
the bulk registration tasks' input files and create-job's documentSource. A protocol here so that
services of one layer share one declaration on the Cloud facade."""

from __future__ import annotations

from typing import Protocol


class ObjectSource(Protocol):
    def read(self, bucket: str, key: str) -> bytes: ...

    def exists(self, bucket: str, key: str) -> bool: ...
