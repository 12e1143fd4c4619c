"""The cloud service's own MQTT connection: one TLS socket, one network thread, MQTT 3.1.1.

Why not paho here (docs/cloud-decisions.md "The service's own MQTT link"): a paho client that only
re-publishes what it receives already costs 2.0–2.3 × a raw echo round trip on this machine, so no
shadow service on paho can reach issue #4's 2.5. paho reads a packet in three or four receive
calls, wakes its own loop through a socket pair for every packet it queues and writes every packet
with its own send. This link reads whatever has arrived in one call, cuts it into packets
(rig/mqtt/packets.py), lets the service answer on this thread and writes the answers in one
send: a relay built this way costs 1.1–1.7 × the echo. Device-side clients in the rig keep paho.

What it does, and nothing more:
* connect with the client certificate, keepalive pings; reconnect with back-off (0.1 s doubling
  to 5 s) after any failure, renewing every subscription. A clean session by default; with
  `clean_session=False` the broker keeps the session (its subscriptions and the QoS 1 messages
  that arrive for it) while the link is away, and delivers those once it is back (§3.1.2.4);
  they are handled during the renewal like any other PUBLISH;
* `subscribe()` from any thread, returning once the broker's SUBACK is in (mosquitto handles a
  client's packets in order, so the subscription is then in force);
* `publish()` from any thread at QoS 0 or 1. QoS 1 publishes stay until their PUBACK and are sent
  again (DUP) after a reconnect; publishes made while disconnected wait for the connection;
* incoming QoS 1 PUBLISHes are acknowledged on receipt (the PUBACK leaves with the next write),
  or, with `acknowledge_on_receipt=False`, once the receiver calls `acknowledge(packet_id)` (from
  any thread): with a persistent session a message whose receiver died before it was done comes
  again on the next connection. PUBACKs still leave in the order their PUBLISHes came (§4.6):
  one acknowledged early waits for those before it;
* on the network thread: `on_publish(message)` for each PUBLISH, then `after_read()` once per
  read; there `data_waiting()` tells whether more bytes are already in, and `send_now()` writes.

Only the network thread touches the socket: an SSL socket must not be read and written by two
threads at once. Other threads queue packets and wake it through a pipe.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable

from rig.mqtt import packets
from rig.mqtt.endpoint import BrokerEndpoint, ClientIdentity

log = logging.getLogger(__name__)

READ_CHUNK = 65536
CONNECT_TIMEOUT_S = 10.0
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 5.0


class LinkRefused(ConnectionError):
    """The broker answered CONNECT with a refusal."""


class LinkClosed(ConnectionError):
    """The broker closed the connection, or stopped answering within the keepalive."""


class _SubackWaiter:
    """Where the network thread leaves a SUBACK's return codes for the thread that subscribed."""

    def __init__(self) -> None:
        self.answered = threading.Event()
        self.codes: list[int] = []


class MqttLink:
    def __init__(
        self,
        endpoint: BrokerEndpoint,
        identity: ClientIdentity,
        client_id: str,
        on_publish: Callable[[packets.Publish], None],
        after_read: Callable[[], None] | None = None,
        keepalive_s: int = 30,
        clean_session: bool = True,
        acknowledge_on_receipt: bool = True,
    ) -> None:
        self.client_id = client_id
        self._clean_session = clean_session
        self._acknowledge_on_receipt = acknowledge_on_receipt
        # QoS 1 packet ids received on this connection, in arrival order -> acknowledged yet
        self._to_acknowledge: dict[int, bool] = {}
        self.connected = threading.Event()  # set once every subscription is renewed
        self._endpoint = endpoint
        self._keepalive_s = keepalive_s
        self._on_publish = on_publish
        self._after_read = after_read
        self._tls = ssl.create_default_context(cafile=str(endpoint.ca_file))
        self._tls.load_cert_chain(str(identity.cert_file), str(identity.key_file))
        self._sock: ssl.SSLSocket | None = None
        self._reader = packets.PacketReader()
        self._lock = threading.Lock()  # packet ids, subscriptions, unacknowledged publishes
        self._subscriptions: dict[str, int] = {}  # topic filter -> QoS, renewed on reconnect
        self._suback_waiters: dict[int, _SubackWaiter] = {}
        self._unacknowledged: dict[int, tuple[str, bytes]] = {}  # QoS 1 publishes, by packet id
        # which of those went out on some connection, in the order they did: a reconnect resends
        # them in that order (§4.6), which packet ids lose once they wrap from 65,535 to 1
        self._written: dict[int, None] = {}
        self._next_packet_id = 0
        # from any thread, written in order: a packet, or the packet id of a QoS 1 publish
        self._queued: deque[bytes | int] = deque()
        self._outgoing = bytearray()  # packets from the network thread itself
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_ident: int | None = None
        self._last_read = self._last_write = 0.0

    # ---- any thread ----------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"mqtt-{self.client_id}")
        self._thread.daemon = True
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Send DISCONNECT if connected, close, and wait for the network thread."""
        self._stopping.set()
        self._wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            if self._thread.is_alive():
                return  # stuck in a connect: it ends by its own timeout; keep its pipe open
        for fd in (self._wake_read, self._wake_write):
            with contextlib.suppress(OSError):
                os.close(fd)
        # the numbers may be reused at once: a second stop() or a later publish() must neither
        # close nor write into whatever file gets them next (-1 fails harmlessly, EBADF)
        self._wake_read = self._wake_write = -1

    def subscribe(self, topic_filter: str, qos: int = 1, timeout: float = 20.0) -> bool:
        """Subscribe (and renew it on every reconnect). Off the network thread and while
        connected, wait for the SUBACK; True when the broker granted it by then (False when it
        answered 0x80, failure, which mosquitto 2.0 never does but AWS IoT does)."""
        on_network_thread = self._on_network_thread()
        with self._lock:
            self._subscriptions[topic_filter] = max(qos, self._subscriptions.get(topic_filter, 0))
            if not self.connected.is_set():
                return False  # _renew sends it: it reads the table and sets `connected` under
                # the same lock, so no filter falls between the two
            packet_id = self._packet_id()
            waiter = _SubackWaiter()
            if not on_network_thread:
                self._suback_waiters[packet_id] = waiter
        self._send(packets.subscribe_packet(packet_id, [(topic_filter, qos)]))
        if on_network_thread:
            return False
        answered = waiter.answered.wait(timeout)
        with self._lock:
            self._suback_waiters.pop(packet_id, None)
        if answered and packets.SUBACK_FAILURE in waiter.codes:
            log.error(
                "the broker refused the subscription of %s to %s", self.client_id, topic_filter
            )
            return False
        return answered

    def publish(self, topic: str, payload: bytes, qos: int = 0) -> None:
        if qos:
            with self._lock:
                packet_id = self._packet_id()
                self._unacknowledged[packet_id] = (topic, payload)
            self._queued.append(packet_id)  # built when written: only then is it "in flight"
            if not self._on_network_thread():
                self._wake()
        else:
            self._send(packets.publish_packet(topic, payload))

    def acknowledge(self, packet_id: int) -> None:
        """The receiver is done with the QoS 1 message `packet_id` (`acknowledge_on_receipt=False`
        only): its PUBACK leaves after those of every message received before it."""
        with self._lock:
            if packet_id not in self._to_acknowledge:
                return  # from a connection that is gone: the broker sends the message again
            self._to_acknowledge[packet_id] = True
        if not self._on_network_thread():
            self._wake()

    # ---- network thread --------------------------------------------------------------------

    def data_waiting(self) -> bool:
        """Whether bytes have arrived that no read has taken in yet."""
        sock = self._sock
        if sock is None:
            return False
        if sock.pending():  # decrypted by TLS already, not yet read
            return True
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return bool(readable)

    def send_now(self) -> None:
        """Write every queued packet in one send (network thread only)."""
        if self._to_acknowledge:
            self._take_acknowledged()
        while self._queued:
            item = self._queued.popleft()
            if isinstance(item, bytes):
                self._outgoing += item
                continue
            with self._lock:
                entry = self._unacknowledged.get(item)
                if entry is None or item in self._written:
                    continue
                self._written[item] = None
            self._outgoing += packets.publish_packet(entry[0], entry[1], 1, item)
        if self._outgoing and self._sock is not None:
            data = bytes(self._outgoing)
            self._outgoing.clear()
            self._sock.sendall(data)
            self._last_write = time.monotonic()

    # ---- internals -------------------------------------------------------------------------

    def _take_acknowledged(self) -> None:
        """PUBACKs for the acknowledged messages at the head of the arrival order."""
        with self._lock:
            for packet_id, done in list(self._to_acknowledge.items()):
                if not done:
                    break
                del self._to_acknowledge[packet_id]
                self._outgoing += packets.puback_packet(packet_id)

    def _on_network_thread(self) -> bool:
        return threading.get_ident() == self._thread_ident

    def _packet_id(self) -> int:
        """A packet identifier not in use (under self._lock)."""
        for _ in range(0xFFFF):
            self._next_packet_id = self._next_packet_id % 0xFFFF + 1
            candidate = self._next_packet_id
            if candidate not in self._unacknowledged and candidate not in self._suback_waiters:
                return candidate
        raise RuntimeError("all 65,535 MQTT packet identifiers are in use")

    def _send(self, packet: bytes) -> None:
        if self._on_network_thread():
            self._outgoing += packet
        else:
            self._queued.append(packet)
            self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):  # a full pipe already wakes it
            os.write(self._wake_write, b"\0")

    def _run(self) -> None:
        self._thread_ident = threading.get_ident()  # before any callback can ask
        backoff = BACKOFF_FIRST_S
        while not self._stopping.is_set():
            try:
                self._session()
                return  # stopped
            except (OSError, packets.MalformedPacket) as exc:  # ssl.SSLError is an OSError
                if self._stopping.is_set():
                    return
                log.warning("MQTT link %s lost (%s); reconnecting", self.client_id, exc)
            except Exception:  # a bug of ours: log it whole, but keep the service reachable
                if self._stopping.is_set():
                    return
                log.exception("MQTT link %s failed; reconnecting", self.client_id)
            finally:
                self.connected.clear()
                self._close_socket()
            if self._stopping.wait(backoff):
                return
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    def _close_socket(self) -> None:
        sock, self._sock = self._sock, None
        self._reader = packets.PacketReader()
        self._outgoing.clear()
        with self._lock:  # the broker sends what was not acknowledged again, with these ids
            self._to_acknowledge.clear()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    def _session(self) -> None:
        self._connect()
        self._renew()
        sock = self._sock
        assert sock is not None
        ping_every = self._keepalive_s / 2
        while not self._stopping.is_set():
            if not sock.pending():
                wait = max(0.0, self._last_write + ping_every - time.monotonic())
                readable, _, _ = select.select([sock, self._wake_read], [], [], wait)
                if self._wake_read in readable:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_read, 4096)
                if sock in readable:
                    self._read(sock)
            else:
                self._read(sock)
            now = time.monotonic()
            if now - self._last_write >= ping_every:
                self._outgoing += packets.PINGREQ_PACKET
            if now - self._last_read > self._keepalive_s * 1.5:
                raise LinkClosed(f"no packet from the broker for {now - self._last_read:.0f} s")
            self.send_now()
        self.send_now()
        sock.sendall(packets.DISCONNECT_PACKET)

    def _connect(self) -> None:
        raw = socket.create_connection(
            (self._endpoint.host, self._endpoint.port), timeout=CONNECT_TIMEOUT_S
        )
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock = self._tls.wrap_socket(raw, server_hostname=self._endpoint.server_hostname)
        except BaseException:
            raw.close()
            raise
        self._sock = sock
        sock.sendall(
            packets.connect_packet(
                self.client_id, self._keepalive_s, clean_session=self._clean_session
            )
        )
        self._last_write = self._last_read = time.monotonic()
        connack = self._await(sock, packets.CONNACK)
        code = packets.connack_return_code(connack)
        if code:
            reason = packets.CONNACK_REFUSALS.get(code, f"return code {code}")
            raise LinkRefused(f"the broker refused the connection: {reason}")

    def _renew(self) -> None:
        """Resend the QoS 1 publishes an earlier connection wrote but saw no PUBACK for, renew
        every subscription, then mark connected (the SUBACK shows the broker has them)."""
        sock = self._sock
        assert sock is not None
        with self._lock:
            resend = [
                (i, self._unacknowledged[i]) for i in self._written if i in self._unacknowledged
            ]
        for packet_id, (topic, payload) in resend:
            self._outgoing += packets.publish_packet(topic, payload, 1, packet_id, dup=True)
        renewed: set[str] = set()
        while True:
            with self._lock:
                filters = [(f, q) for f, q in self._subscriptions.items() if f not in renewed]
                if not filters:
                    self.connected.set()  # under the lock: see subscribe()
                    break
                packet_id = self._packet_id()
            self._outgoing += packets.subscribe_packet(packet_id, filters)
            self.send_now()
            suback = self._await(sock, packets.SUBACK, packet_id)
            codes = packets.suback_codes(suback)
            refused = [
                f
                for (f, _), code in zip(filters, codes, strict=False)
                if code == packets.SUBACK_FAILURE
            ]
            if refused:
                log.error("the broker refused subscriptions of %s: %s", self.client_id, refused)
            renewed.update(f for f, _ in filters)
        self.send_now()  # what other threads queued meanwhile

    def _await(self, sock: ssl.SSLSocket, kind: int, packet_id: int = 0) -> packets.Packet:
        """Read until a packet of `kind` (with `packet_id`) arrives, handling others meanwhile.
        Leaves the socket's timeout at the keepalive: a write the broker never drains fails."""
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while True:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = sock.recv(READ_CHUNK)
            if not data:
                raise LinkClosed("the broker closed the connection")
            self._last_read = time.monotonic()
            found: packets.Packet | None = None
            for packet in self._reader.feed(data):
                if (
                    found is None
                    and packet.kind == kind
                    and (not packet_id or packets.packet_id_of(packet) == packet_id)
                ):
                    found = packet
                else:
                    self._handle(packet)
            if self._after_read is not None:
                self._after_read()
            if found is not None:
                sock.settimeout(self._keepalive_s)
                return found
            if time.monotonic() > deadline:
                raise LinkClosed(f"no answer of type {kind} within {CONNECT_TIMEOUT_S:.0f} s")

    def _read(self, sock: ssl.SSLSocket) -> None:
        try:
            data = sock.recv(READ_CHUNK)
        except ssl.SSLWantReadError:
            return  # part of a TLS record: the rest comes with the next readable
        if not data:
            raise LinkClosed("the broker closed the connection")
        self._last_read = time.monotonic()
        for packet in self._reader.feed(data):
            self._handle(packet)
        if self._after_read is not None:
            self._after_read()

    def _handle(self, packet: packets.Packet) -> None:
        if packet.kind == packets.PUBLISH:
            message = packets.parse_publish(packet)
            if message.qos and self._acknowledge_on_receipt:
                self._outgoing += packets.puback_packet(message.packet_id)
            elif message.qos:
                with self._lock:
                    self._to_acknowledge.setdefault(message.packet_id, False)
            try:
                self._on_publish(message)
            except Exception:  # a handler's bug must not take the connection down
                log.exception("handling the message on %s failed", message.topic)
        elif packet.kind == packets.PUBACK:
            packet_id = packets.packet_id_of(packet)
            with self._lock:
                self._unacknowledged.pop(packet_id, None)
                self._written.pop(packet_id, None)
        elif packet.kind == packets.SUBACK:
            packet_id = packets.packet_id_of(packet)
            with self._lock:
                waiter = self._suback_waiters.get(packet_id)
            if waiter is not None:
                waiter.codes = packets.suback_codes(packet)
                waiter.answered.set()
        elif packet.kind != packets.PINGRESP:
            raise packets.MalformedPacket(f"unexpected packet type {packet.kind} from the broker")
