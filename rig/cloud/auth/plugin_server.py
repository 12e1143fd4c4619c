"""The cloud's side of the broker plugin's socket (protocol: docs/contracts.md "Broker plugin
socket"; the plugin: rig/broker_plugin/buttonrig_auth.c).

A Unix stream socket in a directory the broker's user can reach. Two kinds of connections from
the plugin, each served by a thread of its own:

* requests: `CONNECT <certificateId> <clientId hex> [<certificate DER hex>]` answered by
  `DENY <reason hex>` or `ALLOW`, permission lines, `END` (the certificate comes with a client's
  first CONNECT, not when asking again: `on_presented` sees it first, for just-in-time
  registration);
* one watch connection (`WATCH`): the cloud writes `CHANGED <generation>` after an auth change;
  the plugin asks again for every live connection, kicks the refused ones and answers
  `APPLIED <generation>`;
* lifecycle reports on the request connections: `CONNECTED <certificateId> <clientId hex>` and
  `DISCONNECTED <certificateId> <clientId hex> <reason>` (no reply; handed to `on_presence`), and
  `WILL <clientId hex> <topic hex> <payload hex or ->` answered `OK` once `on_will` has it (the
  broker queues the will only then).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from rig.cloud.auth.decisions import ConnectionDecision
from rig.cloud.core import arn

log = logging.getLogger(__name__)
ARN_PREFIX = f"arn:aws:iot:{arn.REGION}:{arn.ACCOUNT}:"
APPLY_TIMEOUT_S = 10.0
Decide = Callable[[str, str], ConnectionDecision]
# (connected?, certificate id, client id, the plugin's reason: a disconnectReason, WILL or -)
PresenceReport = Callable[[bool, str, str, str], None]
WillReport = Callable[[str, str, bytes], None]  # client id, topic, payload
# (certificate id, certificate DER) of a first CONNECT -> a decision that replaces `decide`'s
Presented = Callable[[str, bytes], ConnectionDecision | None]


def _hex(text: str) -> str:
    return text.encode().hex()


def reply_lines(decision: ConnectionDecision) -> list[str]:
    """The reply to one CONNECT request, line by line (without newlines)."""
    if not decision.allowed:
        return [f"DENY {_hex(decision.reason)}"]
    lines = ["ALLOW"]
    if decision.full:
        lines.append("FULL")
    else:
        lines.append(f"ARN {_hex(ARN_PREFIX)}")
        for key, values in decision.permissions.items():
            lines += [f"{key} {_hex(value)}" for value in values if value]
    lines.append("END")
    return lines


class PluginServer:
    """`start()`, then `invalidate(generation)` after each auth change, then `stop()`."""

    def __init__(self, path: Path, decide: Decide, group: int | None = None) -> None:
        self.path = path
        self.decide = decide  # replaceable while running (the e2e outage kit holds some off)
        self._group = group  # the broker's group when it runs as another user
        self._sock: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._watchers: list[socket.socket] = []
        self._sent = 0  # the last invalidation's number (CHANGED <n>)
        self._applied = 0  # the last one the plugin has applied
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        # set by the runtime: where lifecycle reports go (plugin connection threads)
        self.on_presence: PresenceReport = lambda _connected, _certificate, _client, _reason: None
        self.on_will: WillReport = lambda _client, _topic, _payload: None
        self.on_presented: Presented = lambda _certificate, _der: None

    def start(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock.bind(str(self.path))
        if self._group is not None:
            os.chown(self.path, -1, self._group)
        os.chmod(self.path, 0o660)  # connect() needs write permission on the socket file
        sock.listen(16)
        self._sock = sock
        self._spawn(self._accept, "plugin-accept")

    def _spawn(self, target: Callable[..., None], name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept(self) -> None:
        assert self._sock is not None
        while not self._stopping.is_set():
            try:
                connection, _ = self._sock.accept()
            except OSError:
                return  # closed by stop()
            self._spawn(self._serve, "plugin-connection", connection)

    def _serve(self, connection: socket.socket) -> None:
        reader = connection.makefile("rb")
        try:
            for raw in reader:
                line = raw.decode(errors="replace").rstrip("\n")
                if line == "WATCH":
                    with self._changed:
                        self._watchers.append(connection)
                        self._changed.notify_all()
                elif line.startswith("APPLIED "):
                    with self._changed:
                        self._applied = max(self._applied, int(line.split(" ", 1)[1]))
                        self._changed.notify_all()
                elif line.startswith("CONNECT "):
                    connection.sendall(self._answer(line).encode())
                elif line.startswith(("CONNECTED ", "DISCONNECTED ")):
                    self._presence(line)
                elif line.startswith("WILL "):
                    self._will(line)
                    connection.sendall(b"OK\n")
                else:
                    log.warning("broker plugin sent an unknown request %r", line[:80])
        except (OSError, ValueError) as exc:
            log.debug("broker plugin connection ended: %s", exc)
        finally:
            with self._changed:
                if connection in self._watchers:
                    self._watchers.remove(connection)
            reader.close()
            connection.close()

    def _answer(self, line: str) -> str:
        try:
            _, certificate_id, client_hex, *presented = line.split(" ")
            if len(presented) > 1:
                raise ValueError(f"{len(presented) + 3} fields")
            client_id = bytes.fromhex(client_hex).decode()
            early = (
                self.on_presented(certificate_id, bytes.fromhex(presented[0]))
                if presented
                else None
            )
            decision = early or self.decide(certificate_id, client_id)
        except ValueError as exc:
            decision = ConnectionDecision(False, f"malformed request: {exc}")
        except Exception as exc:  # never leave the broker waiting: refuse
            log.exception("deciding a CONNECT failed")
            decision = ConnectionDecision(False, f"internal error: {type(exc).__name__}")
        return "".join(f"{reply}\n" for reply in reply_lines(decision))

    def _presence(self, line: str) -> None:
        try:
            kind, certificate_id, client_hex, *reason = line.split(" ")
            self.on_presence(
                kind == "CONNECTED",
                certificate_id,
                bytes.fromhex(client_hex).decode(),
                reason[0] if reason else "-",
            )
        except Exception:  # a report never ends the plugin's connection
            log.exception("handling the broker plugin's %r failed", line[:80])

    def _will(self, line: str) -> None:
        try:
            _, client_hex, topic_hex, payload_hex = line.split(" ")
            payload = b"" if payload_hex == "-" else bytes.fromhex(payload_hex)
            self.on_will(
                bytes.fromhex(client_hex).decode(), bytes.fromhex(topic_hex).decode(), payload
            )
        except Exception:
            log.exception("handling the broker plugin's will report failed")

    def invalidate(self, timeout: float = APPLY_TIMEOUT_S) -> bool:
        """Tell the plugin that decisions changed; True once it has asked again for every live
        connection (and kicked the refused ones), False when no plugin listens or it is late."""
        with self._changed:
            watchers = list(self._watchers)
            self._sent += 1
            generation = self._sent
        if not watchers:
            return False
        for watcher in watchers:
            with contextlib.suppress(OSError):
                watcher.sendall(f"CHANGED {generation}\n".encode())
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._applied < generation:
                left = deadline - time.monotonic()
                if left <= 0 or not self._watchers:
                    return False
                self._changed.wait(left)
        return True

    def wait_watched(self, timeout: float) -> bool:
        """Whether the plugin opened its watch connection (at its first tick) within `timeout`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not self._watchers:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def stop(self) -> None:
        self._stopping.set()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
            self._sock = None
        with self._changed:
            for watcher in self._watchers:
                with contextlib.suppress(OSError):
                    watcher.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
