"""boto3 clients and the real aws-cli pointed at a running reference cloud's AWS HTTP API
(`api_url` in endpoint.json), with dummy credentials: the cloud takes any signature."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import boto3.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    # no profile or config of the machine's user leaks in
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_PAGER": "",
}
NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})


def dummy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """For a test module's autouse fixture: boto3 finds these, not the machine's own."""
    for name, value in DUMMY_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def api_url(runtime: Any) -> str:
    url = runtime.endpoint_document()["api_url"]
    assert isinstance(url, str) and url.startswith("http://127.0.0.1:"), url
    return url


def client(runtime: Any, service: str) -> Any:
    return boto3.session.Session().client(
        service, endpoint_url=api_url(runtime), region_name="us-east-1", config=NO_RETRIES
    )


def error_of(exc: ClientError) -> tuple[str, int, str]:
    """(code, HTTP status, message) as botocore parsed them."""
    error = exc.response["Error"]
    status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
    return error["Code"], status, error["Message"]


def aws(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The real aws-cli (awscli from PyPI, this venv's) against the cloud's API."""
    env = {**os.environ, **DUMMY_ENV}
    env.pop("AWS_PROFILE", None)
    return subprocess.run(
        [sys.executable, "-m", "awscli", *args, "--endpoint-url", url],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
