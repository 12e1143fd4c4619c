"""pytest fixtures for the reference cloud (broker, cloud model).

* `cloud_runtime` (module scope): broker + cloud service + API in a temporary home, torn down
  after the module. Tests in one module share it: give every test its own thing names.
* `cloud`: the same runtime, function-scoped alias for tests that only read the fixture.
* `device`: a factory `device(thing_name) -> DeviceClient`, a paho client connected over mTLS with a
  freshly provisioned certificate (thing + certificate + per-thing policy); closed after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rig.backends.base import LOCAL_CLOUD
from rig.cloud.runtime import CloudRuntime, temporary_cloud
from rig.mqtt.device_client import DeviceClient
from rig.pytest_plugin.backends import require


class DeviceFactory:
    """Provisions things on the running cloud and connects them as devices."""

    def __init__(self, runtime: CloudRuntime, directory: Path) -> None:
        self.runtime = runtime
        self.directory = directory
        self.clients: list[DeviceClient] = []

    def credentials(self, thing_name: str) -> tuple[Path, Path]:
        provisioned = self.runtime.cloud.provision_button(thing_name)
        cert = self.directory / f"{thing_name}.crt.pem"
        key = self.directory / f"{thing_name}.key.pem"
        cert.write_text(provisioned["certificatePem"])
        key.write_text(provisioned["privateKeyPem"])
        key.chmod(0o600)
        return cert, key

    def __call__(
        self, thing_name: str, connect: bool = True, will: tuple[str, bytes] | None = None
    ) -> DeviceClient:
        cert, key = self.credentials(thing_name)
        assert self.runtime.endpoint is not None
        client = DeviceClient(self.runtime.endpoint, cert, key, thing_name, will)
        self.clients.append(client)
        return client.connect() if connect else client

    def close(self) -> None:
        for client in self.clients:
            client.close()


@pytest.fixture(scope="module")
def cloud_runtime(request: pytest.FixtureRequest) -> Iterator[CloudRuntime]:
    """The local cloud itself: NOT APPLICABLE on another `--backend` (its internals are ours)."""
    require(request, LOCAL_CLOUD)
    with temporary_cloud() as runtime:
        yield runtime


@pytest.fixture
def cloud(cloud_runtime: CloudRuntime) -> CloudRuntime:
    return cloud_runtime


@pytest.fixture
def device(cloud_runtime: CloudRuntime, tmp_path: Path) -> Iterator[Callable[..., DeviceClient]]:
    factory = DeviceFactory(cloud_runtime, tmp_path)
    yield factory
    factory.close()
