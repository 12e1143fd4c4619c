"""Disconnect a client right after it asked for what AWS IoT refuses, as AWS IoT does.

Four cases mosquitto lets through and the broker's log shows:
* a request the ACL denied (`Denied PUBLISH from <client>`), see below;
* a persistent session: "If an MQTT client attempts to connect to the AWS IoT message broker with
  the `cleanSession` set to `false`, the client will be disconnected." The connect line
  `New client connected from <addr> as <client> (p2, c0, k30, u'<client>').` has the flag (c0);
* a QoS 2 PUBLISH (`Received PUBLISH from <client> (d0, q2, ...`): `max_qos 1` makes mosquitto
  disconnect such a client, until its first SIGHUP reload resets `max_qos` (2.0.11); from then on
  the enforcer does it. Mosquitto may have sent PUBREC (and, if the client is quicker with PUBREL
  than the takeover, delivered the message) before the disconnect;
* a SUBSCRIBE AWS IoT refuses: a filter the client's policies do not allow (`iot:Subscribe`),
  a reserved `$` filter devices may not subscribe to, or QoS 2. mosquitto 2.0 with an
  `acl_file` grants every SUBSCRIBE (it filters at delivery, so nothing unauthorised arrives)
  and logs the request as `Received SUBSCRIBE from <client>`, then one `\t<filter> (QoS n)` line
  per filter. The guide: such a SUBSCRIBE "fails and causes the client to disconnect"; for QoS 2
  it sends no SUBACK. Here the client gets its SUBACK first and is then disconnected.

mosquitto with an `acl_file` acknowledges an unauthorised PUBLISH (PUBACK for QoS 1) and drops
it; with `use_identity_as_username` it runs no auth plugin, so it cannot refuse anything later
either. It logs the denial (`Denied PUBLISH from <client> (...)`) at debug level only, and debug
lines never go to `$SYS/broker/log/#`, so `DenialEnforcer` reads them from the broker's log
file (the broker config has `log_type debug`). For each client denied, it takes over the
client's id: it connects with a certificate for that common name from the cloud's own CA (the
broker forces client id = certificate CN and closes the older connection, "already connected,
closing old connection"), then disconnects. The device sees its connection closed without a
DISCONNECT, as after AWS IoT's disconnect for an unauthorised request. The kicker's own connect and
disconnect are hidden from presence events (`CloudService.expect_kick`).

Which SUBSCRIBE is refused is decided by the auth snapshot in force
(rig/cloud/auth/compiler.py `ClientRules`), passed in as `subscribe_refusal`.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from rig.cloud.certificates.store import CLOUD_USER, PROBE_USER
from rig.mqtt.endpoint import BrokerEndpoint, ClientIdentity

log = logging.getLogger(__name__)

# Client ids are thing names (the certificate CN): [A-Za-z0-9:_-]+
DENIED = re.compile(r"Denied (?:PUBLISH|SUBSCRIBE) from (?P<id>[A-Za-z0-9:_-]+) ")
PERSISTENT_SESSION = re.compile(
    r"New client connected from \S+ as (?P<id>[A-Za-z0-9:_-]+) \(p\d+, c0,"
)
QOS2_PUBLISH = re.compile(r"Received PUBLISH from (?P<id>[A-Za-z0-9:_-]+) \(d\d, q2,")
REFUSED = (DENIED, PERSISTENT_SESSION, QOS2_PUBLISH)  # what AWS IoT disconnects a client for
SUBSCRIBE_FROM = re.compile(r"Received SUBSCRIBE from (?P<id>[A-Za-z0-9:_-]+)$")
SUBSCRIBE_FILTER = re.compile(r"^(?:\S+: )?\t(?P<filter>.*) \(QoS (?P<qos>\d+)\)$")
SubscribeRefusal = Callable[[str, str, int], "str | None"]  # (client, filter, qos) -> why
POLL_S = 0.05
KICK_TIMEOUT_S = 5.0
EXEMPT = (CLOUD_USER, PROBE_USER)


class LogTail:
    """New complete lines of a file that may be replaced (a restarted broker's new log)."""

    def __init__(self, path_of: Callable[[], Path | None]) -> None:
        self._path_of = path_of
        self._path: Path | None = None
        self._offset = 0
        self._partial = b""

    def start_at_end(self) -> None:
        self._path = self._path_of()
        self._offset = self._path.stat().st_size if self._path and self._path.exists() else 0

    def lines(self) -> list[str]:
        path = self._path_of()
        if path != self._path:  # a new log: read it from its beginning
            self._path, self._offset, self._partial = path, 0, b""
        if path is None:
            return []
        try:
            with open(path, "rb") as log_file:
                log_file.seek(self._offset)
                data = log_file.read()
        except FileNotFoundError:
            return []
        self._offset += len(data)
        *complete, self._partial = (self._partial + data).split(b"\n")
        return [line.decode(errors="replace") for line in complete]


def denied_clients(lines: list[str]) -> list[str]:
    """Client ids the broker denied a request of, in order, each once."""
    return _clients_matching(lines, (DENIED,))


def refused_clients(lines: list[str]) -> list[str]:
    """Client ids to disconnect: a denied request, a persistent session or a QoS 2 PUBLISH; in
    order, each once."""
    return _clients_matching(lines, REFUSED)


def _clients_matching(lines: list[str], patterns: tuple[re.Pattern[str], ...]) -> list[str]:
    found: list[str] = []
    for line in lines:
        for pattern in patterns:
            match = pattern.search(line)
            if match and match["id"] not in found and match["id"] not in EXEMPT:
                found.append(match["id"])
    return found


class SubscribeReader:
    """The (client id, filter, QoS) of each SUBSCRIBE in the broker's log, fed line by line
    (a request's lines may arrive in two reads). Between `Received SUBSCRIBE` and `Sending
    SUBACK` the broker logs only that request's work (the filter lines with its own `subscribe`
    lines and $SYS publishes between them): it handles one packet at a time."""

    def __init__(self) -> None:
        self._client: str | None = None

    def feed(self, line: str) -> tuple[str, str, int] | None:
        started = SUBSCRIBE_FROM.search(line)
        if started:
            self._client = started["id"]
            return None
        if self._client is not None:
            topic_filter = SUBSCRIBE_FILTER.match(line)
            if topic_filter:
                return self._client, topic_filter["filter"], int(topic_filter["qos"])
            if "Sending SUBACK to " in line:  # mosquitto handles one packet at a time
                self._client = None
        return None


def refused_subscribers(
    lines: list[str], reader: SubscribeReader, refusal: SubscribeRefusal
) -> list[tuple[str, str]]:
    """(client id, why) for each client with a SUBSCRIBE AWS IoT refuses, in order, each once."""
    found: list[tuple[str, str]] = []
    for line in lines:
        request = reader.feed(line)
        if request is None or request[0] in EXEMPT or any(c == request[0] for c, _ in found):
            continue
        why = refusal(*request)
        if why is not None:
            found.append((request[0], why))
    return found


class Kicker:
    """Takes over a client id with a certificate for its common name, then disconnects."""

    def __init__(
        self, endpoint: BrokerEndpoint, identity_for: Callable[[str], ClientIdentity]
    ) -> None:
        self.endpoint = endpoint
        self.identity_for = identity_for

    def kick(self, client_id: str) -> bool:
        """Whether the takeover connected (so the older connection is closed)."""
        identity = self.identity_for(client_id)
        connected = threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        client.tls_set(str(self.endpoint.ca_file), str(identity.cert_file), str(identity.key_file))
        client.on_connect = lambda _c, _u, _f, rc, _p: None if rc.is_failure else connected.set()
        try:
            client.connect(self.endpoint.host, self.endpoint.port, keepalive=10)
            client.loop_start()
            return connected.wait(KICK_TIMEOUT_S)
        except OSError as exc:
            log.warning("could not disconnect %s: %s", client_id, exc)
            return False
        finally:
            client.disconnect()
            client.loop_stop()


class DenialEnforcer:
    """Watches the broker's log; disconnects each client that asked for what AWS IoT refuses
    (a denied request, a persistent session, a QoS 2 PUBLISH, a refused SUBSCRIBE)."""

    def __init__(
        self,
        log_file: Callable[[], Path | None],
        kicker: Kicker,
        expect_kick: Callable[[str], None] = lambda _client_id: None,
        cancel_kick: Callable[[str], None] = lambda _client_id: None,
        subscribe_refusal: SubscribeRefusal = lambda _client, _filter, _qos: None,
        line_readers: Sequence[Callable[[str], object]] = (),
    ) -> None:
        self._tail = LogTail(log_file)
        self._tail_lock = threading.Lock()
        self._line_readers = list(line_readers)  # also fed every line (rig/cloud/host/wills.py)
        self._unenforced: list[str] = []  # lines `read_now` read for the next round
        self._subscribes = SubscribeReader()
        self._subscribe_refusal = subscribe_refusal
        self._kicker = kicker
        self._expect_kick = expect_kick
        self._cancel_kick = cancel_kick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="denial-enforcer", daemon=True)
        self.kicked: list[str] = []

    def start(self) -> None:
        self._tail.start_at_end()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=KICK_TIMEOUT_S + 2)

    def read_now(self) -> None:
        """Read the log up to its end now and feed the line readers (from any thread); the
        lines are enforced in the next round."""
        with self._tail_lock:
            self._unenforced.extend(self._read())

    def _read(self) -> list[str]:
        lines = self._tail.lines()
        for line in lines:
            for reader in self._line_readers:
                reader(line)
        return lines

    def _run(self) -> None:
        while not self._stop.wait(POLL_S):
            try:
                with self._tail_lock:
                    lines, self._unenforced = self._unenforced + self._read(), []
                refused = refused_clients(lines)
                for client_id, why in refused_subscribers(
                    lines, self._subscribes, self._subscribe_refusal
                ):
                    log.info("refusing %s: %s", client_id, why)
                    if client_id not in refused:
                        refused.append(client_id)
                for client_id in refused:
                    self._disconnect(client_id)
            except Exception:
                log.exception("enforcing a denial failed")

    def _disconnect(self, client_id: str) -> None:
        self._expect_kick(client_id)
        if self._kicker.kick(client_id):
            log.info("disconnected %s: a request AWS IoT refuses", client_id)
            self.kicked.append(client_id)
        else:
            self._cancel_kick(client_id)
