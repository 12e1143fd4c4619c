"""A device connected as the official AWS IoT Device SDK v2 connects it (awscrt, awsiot's
mqtt_connection_builder, mutual TLS): the conformance tests' device."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from awscrt import mqtt
from awsiot import mqtt_connection_builder

from rig.mqtt.endpoint import BrokerEndpoint

WAIT_S = 20.0


def device_files(directory: Path, thing: str) -> tuple[Path, Path]:
    """The certificate and key the rig's `device` fixture writes for `thing` in `directory`."""
    return directory / f"{thing}.crt.pem", directory / f"{thing}.key.pem"


def sdk_connection(
    endpoint: BrokerEndpoint, cert: Path, key: Path, client_id: str
) -> mqtt.Connection:
    """The SDK's mutual-TLS connection to the rig's broker, not connected yet."""
    return mqtt_connection_builder.mtls_from_path(
        endpoint="localhost",  # the name the rig's server certificate carries
        port=endpoint.port,
        cert_filepath=str(cert),
        pri_key_filepath=str(key),
        ca_filepath=str(endpoint.ca_file),
        client_id=client_id,
        clean_session=True,
        keep_alive_secs=30,
    )


@contextmanager
def sdk_connected(
    endpoint: BrokerEndpoint, cert: Path, key: Path, client_id: str
) -> Iterator[mqtt.Connection]:
    """The connection connected, and disconnected when the block ends."""
    connection = sdk_connection(endpoint, cert, key, client_id)
    connection.connect().result(WAIT_S)
    try:
        yield connection
    finally:
        connection.disconnect().result(WAIT_S)
