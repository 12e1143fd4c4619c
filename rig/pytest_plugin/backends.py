"""pytest plugin: `--backend`, the `cloud_backend` fixture and the `needs(...)` marker.

`--backend local` (default) runs the tests against the local reference cloud; `--backend aws`
against AWS IoT Core with boto3's credentials and region (opt-in, like `--board` for hardware);
`--backend aws-http` runs the AWS backend's code against the local cloud's AWS HTTP interface, as
CI does for the tests that take `cloud_backend`.

A test that reaches into the local cloud (its database, broker process, clock: any test using the
`cloud_runtime` fixture, or marked `@pytest.mark.needs("local-cloud")`) is reported as NOT
APPLICABLE on a backend without that capability: neither passed nor silently skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rig.backends.base import LOCAL_CLOUD, CloudBackend

BACKENDS = ("local", "aws", "aws-http")
CAPABILITIES = {"local": frozenset({LOCAL_CLOUD}), "aws": frozenset(), "aws-http": frozenset()}
NOT_APPLICABLE = "not applicable on backend"


def add_options(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        default="local",
        choices=BACKENDS,
        help="cloud the end-to-end tests run against: local (default), aws (AWS IoT Core with"
        " boto3's credentials; opt-in), aws-http (the AWS backend against the local cloud's"
        " HTTP interface)",
    )


def configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "needs(*capabilities): backend capabilities the test needs (local-cloud)"
    )


def backend_name(config: pytest.Config) -> str:
    return str(config.getoption("--backend"))


def require(request: pytest.FixtureRequest, *capabilities: str) -> None:
    """Mark the running test NOT APPLICABLE unless the backend has every capability."""
    name = backend_name(request.config)
    missing = [c for c in capabilities if c not in CAPABILITIES[name]]
    if missing:
        pytest.skip(f"{NOT_APPLICABLE} {name}: needs {', '.join(missing)}")


def runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("needs"):
        name = backend_name(item.config)
        missing = [c for c in mark.args if c not in CAPABILITIES[name]]
        if missing:
            pytest.skip(f"{NOT_APPLICABLE} {name}: needs {', '.join(missing)}")


def report_teststatus(report: pytest.TestReport) -> tuple[str, str, str] | None:
    """Not-applicable tests get their own category, letter and word in pytest's summary."""
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2])
        if NOT_APPLICABLE in reason:
            return "not applicable", "N", "NOT APPLICABLE"
    return None


def terminal_summary(terminalreporter: Any) -> None:
    """Which tests were not applicable on this backend, and what each needs."""
    reports = terminalreporter.stats.get("not applicable", [])
    if not reports:
        return
    terminalreporter.section("not applicable on this backend")
    for report in reports:
        terminalreporter.line(f"NOT APPLICABLE {report.nodeid}: {report.longrepr[2]}")


def open_backend(name: str) -> Iterator[CloudBackend]:
    """The backend `name`, with what it needs started, closed (and for AWS cleaned up) after."""
    if name == "aws":
        from rig.backends.aws import AwsBackend

        backend = AwsBackend()
        try:
            yield backend
        finally:
            backend.close()
            backend.cleanup()
        return
    from rig.backends.local import local_backend
    from rig.cloud.runtime import temporary_cloud

    with temporary_cloud() as runtime:
        if name == "local":
            yield local_backend(runtime)
            return
        import boto3

        from rig.backends.aws import AwsBackend
        from rig.cloud.core.arn import REGION

        # the local interface takes any signature; boto3 still needs something to sign with
        session = boto3.Session(
            aws_access_key_id="buttonrig", aws_secret_access_key="buttonrig", region_name=REGION
        )
        aws = AwsBackend(
            endpoint_url=api_url(runtime), device_endpoint=runtime.endpoint, session=session
        )
        try:
            yield aws
        finally:
            aws.close()


def api_url(runtime: Any) -> str:
    """The local cloud's AWS HTTP interface (`api_url` of its endpoint document)."""
    return str(runtime.endpoint_document()["api_url"])


@pytest.fixture(scope="module")
def cloud_backend(request: pytest.FixtureRequest) -> Iterator[CloudBackend]:
    """The cloud of `--backend`, for the whole module: give each test its own boards."""
    yield from open_backend(backend_name(request.config))
