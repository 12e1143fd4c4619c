"""A plugin socket that lets every certificate of the broker's CA do everything: for a
`MosquittoBroker` that stands in for an operator's broker (attach mode) or a bare one.

    with everyone_allowed() as auth_socket:
        broker = MosquittoBroker(BrokerFiles(ca, cert, key, auth_socket), logs, probe)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rig.broker import RuntimeDirectory
from rig.cloud.auth.decisions import ConnectionDecision
from rig.cloud.auth.plugin_server import PluginServer


@contextmanager
def everyone_allowed() -> Iterator[Path]:
    directory = RuntimeDirectory()
    server = PluginServer(
        directory.path / "auth.sock",
        lambda _certificate_id, _client_id: ConnectionDecision(True, "open broker", full=True),
        directory.group,
    )
    server.start()
    try:
        yield server.path
    finally:
        server.stop()
        directory.remove()
