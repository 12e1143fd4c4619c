"""The cloud service's own MQTT link (rig/mqtt/link.py) end to end, against a real mosquitto.

One broker for the module (the rig's MosquittoBroker with a CA from rig.cloud.api.Cloud). The
broker forces each client id to its certificate's common name, so every connection here gets a
certificate of its own, named after the test. Peers are paho clients (DeviceClient). What the
broker did is read from its log (debug level: it logs every PUBACK and PINGREQ it receives).
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import re
import signal
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cert_kit import ThrowawayCa
from open_broker import everyone_allowed

from rig.broker import BrokerFiles, MosquittoBroker
from rig.cloud.api import Cloud
from rig.mqtt import packets
from rig.mqtt.device_client import WAIT_S, DeviceClient
from rig.mqtt.endpoint import BrokerEndpoint, ClientIdentity
from rig.mqtt.link import MqttLink
from rig.mqtt.packets import Publish


@pytest.fixture(scope="module")
def auth_socket() -> Iterator[Path]:
    """The broker lets every certificate of its CA do everything."""
    with everyone_allowed() as path:
        yield path


_NAMES = itertools.count()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.02)


class Inbox:
    """An `on_publish` that queues what the link hands it."""

    def __init__(self) -> None:
        self.messages: queue.Queue[Publish] = queue.Queue()

    def __call__(self, message: Publish) -> None:
        self.messages.put(message)

    def take(self, count: int, timeout: float = WAIT_S) -> list[Publish]:
        deadline = time.monotonic() + timeout
        taken: list[Publish] = []
        while len(taken) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{len(taken)} of {count} messages within {timeout:.0f} s")
            try:
                taken.append(self.messages.get(timeout=remaining))
            except queue.Empty:
                continue
        return taken

    def nothing_more(self, quiet_s: float = 0.5) -> bool:
        try:
            extra = self.messages.get(timeout=quiet_s)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected extra message {extra}")


class LinkRig:
    """The module's broker and CA; makes identities, links and paho peers, closes them after."""

    def __init__(self, broker: MosquittoBroker, cloud: Cloud, directory: Path) -> None:
        self.broker = broker
        self.cloud = cloud
        self.directory = directory
        self._links: list[MqttLink] = []
        self._devices: list[DeviceClient] = []

    @property
    def endpoint(self) -> BrokerEndpoint:
        assert self.broker.endpoint is not None  # a restart gives a new CA file path
        return self.broker.endpoint

    def name(self, prefix: str) -> str:
        return f"{prefix}-{os.getpid()}-{next(_NAMES)}"  # unique in the module's broker log

    def identity(self, common_name: str) -> ClientIdentity:
        issued = self.cloud.ca.issue_client_certificate(common_name)
        assert issued.private_key_pem is not None
        cert = self.directory / f"{common_name}.crt"
        key = self.directory / f"{common_name}.key"
        cert.write_text(issued.certificate_pem)
        key.write_text(issued.private_key_pem)
        key.chmod(0o600)
        return ClientIdentity(cert, key)

    def link(
        self,
        on_publish: Callable[[Publish], None],
        keepalive_s: int = 30,
        identity: ClientIdentity | None = None,
        client_id: str | None = None,
        start: bool = True,
        clean_session: bool = True,
        acknowledge_on_receipt: bool = True,
    ) -> MqttLink:
        client_id = client_id or self.name("link")
        link = MqttLink(
            self.endpoint,
            identity or self.identity(client_id),
            client_id,
            on_publish,
            keepalive_s=keepalive_s,
            clean_session=clean_session,
            acknowledge_on_receipt=acknowledge_on_receipt,
        )
        self._links.append(link)
        if start:
            link.start()
        return link

    def device(self, prefix: str = "peer") -> DeviceClient:
        client_id = self.name(prefix)
        identity = self.identity(client_id)
        device = DeviceClient(self.endpoint, identity.cert_file, identity.key_file, client_id)
        self._devices.append(device)
        return device.connect()

    def log(self) -> str:
        assert self.broker.log_file is not None
        return self.broker.log_file.read_text(errors="replace")

    def close(self) -> None:
        for link in self._links:
            link.stop()
        for device in self._devices:
            device.close()


@pytest.fixture(scope="module")
def broker_and_ca(
    tmp_path_factory: pytest.TempPathFactory, auth_socket: Path
) -> Iterator[tuple[MosquittoBroker, Cloud]]:
    base = tmp_path_factory.mktemp("mqtt-link")
    home = base / "home"
    home.mkdir(mode=0o700)
    cloud = Cloud(home)
    server = cloud.ca.issue_server_certificate(["localhost", "127.0.0.1"])
    assert server.private_key_pem is not None
    probe = base / "probe"
    probe.mkdir()
    issued = cloud.ca.issue_client_certificate("link-probe")
    assert issued.private_key_pem is not None
    (probe / "probe.crt").write_text(issued.certificate_pem)
    (probe / "probe.key").write_text(issued.private_key_pem)
    broker = MosquittoBroker(
        BrokerFiles(
            cloud.ca.certificate_pem.encode(),
            server.certificate_pem.encode(),
            server.private_key_pem.encode(),
            auth_socket,
        ),
        base / "logs",
        ClientIdentity(probe / "probe.crt", probe / "probe.key"),
    )
    broker.start()
    try:
        yield broker, cloud
    finally:
        broker.stop()
        cloud.close()


@pytest.fixture
def rig(broker_and_ca: tuple[MosquittoBroker, Cloud], tmp_path: Path) -> Iterator[LinkRig]:
    broker, cloud = broker_and_ca
    made = LinkRig(broker, cloud, tmp_path)
    yield made
    made.close()


def connected(link: MqttLink) -> MqttLink:
    assert link.connected.wait(WAIT_S), f"{link.client_id} did not connect"
    return link


def network_thread_alive(link: MqttLink) -> bool:
    return any(t.name == f"mqtt-{link.client_id}" and t.is_alive() for t in threading.enumerate())


# ---- receiving ------------------------------------------------------------------------------------


def test_subscribe_waits_for_the_suback_then_messages_arrive(rig: LinkRig) -> None:
    inbox = Inbox()
    link = connected(rig.link(inbox))
    topic = f"link/{link.client_id}/in"
    shadow_topic = f"$aws/things/{link.client_id}/shadow/update"
    peer = rig.device()
    assert link.subscribe(topic, qos=1)
    # True means the SUBACK is in: the broker logs its SUBACK before it sends it
    assert rig.log().count(f"Sending SUBACK to {link.client_id}") == 1
    assert link.subscribe(shadow_topic, qos=0)
    assert rig.log().count(f"Sending SUBACK to {link.client_id}") == 2
    peer.publish(topic, b"at least once", qos=1)  # no wait: the subscription is in force
    peer.publish(topic, b"at most once", qos=0)
    peer.publish(shadow_topic, b'{"state":{}}', qos=1)  # granted QoS 0: delivered at QoS 0
    got = inbox.take(3)
    assert [(m.topic, m.payload, m.qos, m.retain) for m in got] == [
        (topic, b"at least once", 1, False),
        (topic, b"at most once", 0, False),
        (shadow_topic, b'{"state":{}}', 0, False),
    ]
    assert got[0].packet_id != 0 and got[1].packet_id == 0


def test_qos1_deliveries_are_acknowledged(rig: LinkRig) -> None:
    inbox = Inbox()
    link = connected(rig.link(inbox))
    topic = f"link/{link.client_id}/in"
    assert link.subscribe(topic, qos=1)
    peer = rig.device()
    # More than mosquitto's 20 in-flight messages per client: without PUBACKs it would hold the
    # rest back, and keep the unacknowledged ones to send again.
    count = 60
    for number in range(count):
        peer.publish(topic, f"m{number}".encode(), qos=1)
    got = inbox.take(count)
    assert [m.payload for m in got] == [f"m{n}".encode() for n in range(count)]
    assert {m.qos for m in got} == {1}
    packet_ids = [m.packet_id for m in got]
    wait_for(
        lambda: all(
            f"Received PUBACK from {link.client_id} (Mid: {i}," in rig.log() for i in packet_ids
        ),
        "the broker logged a PUBACK for every delivery",
    )
    assert inbox.nothing_more()  # nothing delivered twice


def test_subscribing_before_the_connection_takes_effect_on_connect(rig: LinkRig) -> None:
    inbox = Inbox()
    link = rig.link(inbox, start=False)
    topic = f"link/{link.client_id}/early"
    assert not link.subscribe(topic)  # not connected: no SUBACK to wait for, but remembered
    link.start()
    connected(link)
    rig.device().publish(topic, b"found", qos=1)
    assert [m.payload for m in inbox.take(1)] == [b"found"]


def test_a_failing_on_publish_does_not_drop_the_connection(rig: LinkRig) -> None:
    delivered: queue.Queue[bytes] = queue.Queue()

    def on_publish(message: Publish) -> None:
        if message.payload.startswith(b"boom"):
            raise RuntimeError("a handler bug")
        delivered.put(message.payload)

    link = connected(rig.link(on_publish))
    topic = f"link/{link.client_id}/in"
    assert link.subscribe(topic)
    peer = rig.device()
    for payload in (b"boom-1", b"after-1", b"boom-2", b"after-2"):
        peer.publish(topic, payload, qos=1)
    assert [delivered.get(timeout=WAIT_S) for _ in range(2)] == [b"after-1", b"after-2"]
    assert link.connected.is_set()
    assert rig.log().count(f"as {link.client_id} (") == 1  # connected once: never dropped


# ---- sending ------------------------------------------------------------------------------------


def test_publishes_from_two_threads_arrive_in_order(rig: LinkRig) -> None:
    link = connected(rig.link(Inbox()))
    base = f"link/{link.client_id}/out"
    peer = rig.device()
    assert peer.subscribe(f"{base}/#", qos=1) == [1]
    per_thread = 250

    def publish_all(qos: int) -> None:
        for number in range(per_thread):
            link.publish(f"{base}/qos{qos}", f"{number}".encode(), qos=qos)

    threads = [threading.Thread(target=publish_all, args=(qos,)) for qos in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    received: dict[str, list[int]] = {f"{base}/qos0": [], f"{base}/qos1": []}
    deadline = time.monotonic() + WAIT_S
    while sum(map(len, received.values())) < 2 * per_thread and time.monotonic() < deadline:
        try:
            message = peer.messages.get(timeout=0.2)
        except queue.Empty:
            continue
        received[message.topic].append(int(message.payload))
    expected = list(range(per_thread))
    assert received == {f"{base}/qos0": expected, f"{base}/qos1": expected}


def test_broker_restart_reconnects_renews_and_delivers_what_waited(rig: LinkRig) -> None:
    inbox = Inbox()
    link = connected(rig.link(inbox))
    incoming, looped = f"link/{link.client_id}/in", f"link/{link.client_id}/loop"
    assert link.subscribe(incoming)
    assert link.subscribe(looped)  # the link's own publishes come back to it
    port = rig.endpoint.port
    rig.broker.stop()
    wait_for(lambda: not link.connected.is_set(), "the link saw the broker go")
    for number in range(5):
        link.publish(looped, f"while down {number}".encode(), qos=1)
    link.publish(looped, b"qos0 while down", qos=0)
    rig.broker.start(port=port)
    connected(link)  # again, by itself
    # queued publishes leave only after the renewed subscriptions are acknowledged
    got = inbox.take(6)
    assert [m.payload for m in got] == [f"while down {n}".encode() for n in range(5)] + [
        b"qos0 while down"
    ]
    assert {m.topic for m in got} == {looped}
    rig.device().publish(incoming, b"after the restart", qos=1)
    assert [m.payload for m in inbox.take(1)] == [b"after the restart"]
    assert inbox.nothing_more()


def test_unacknowledged_qos1_publishes_are_resent_in_order_with_dup(rig: LinkRig) -> None:
    """Publishes the broker never acknowledged (it is frozen) go out again on the next
    connection, flagged DUP and in their original order (MQTT 3.1.1 §4.4, §4.6), also when their
    packet identifiers wrap around from 65,535 to 1."""
    inbox = Inbox()
    link = connected(rig.link(inbox, keepalive_s=2))  # a frozen broker is noticed within 3 s
    marker = f"link/{link.client_id}/marker"
    # Packet ids 1..65,531, then the marker's SUBSCRIBE and PUBLISH take 65,532 and 65,533: the
    # broker handles one client's packets in order, so once the marker comes back every earlier
    # publish has been handled and acknowledged, and the next ids are free.
    for _ in range(65_531):
        link.publish(f"link/{link.client_id}/burn", b"", qos=1)
    assert link.subscribe(marker)
    link.publish(marker, b"all handled", qos=1)
    assert [m.payload for m in inbox.take(1, timeout=60)] == [b"all handled"]
    stalled = f"link/{link.client_id}/stalled"
    expected_ids = [65_534, 65_535, 1, 2, 3]
    assert rig.broker.pid is not None
    offset = rig.broker.log_file.stat().st_size if rig.broker.log_file else 0
    os.kill(rig.broker.pid, signal.SIGSTOP)
    try:
        for number in range(len(expected_ids)):
            link.publish(stalled, f"stalled {number}".encode(), qos=1)
        wait_for(lambda: not link.connected.is_set(), "the link gave up on the frozen broker")
    finally:
        os.kill(rig.broker.pid, signal.SIGCONT)
    connected(link)
    resent_line = re.compile(
        rf"Received PUBLISH from {re.escape(link.client_id)} \(d1, q1, r0, m(\d+), "
        rf"'{re.escape(stalled)}'"
    )

    def resent_ids() -> list[int]:
        return [int(i) for i in resent_line.findall(rig.log()[offset:])]

    wait_for(lambda: len(resent_ids()) >= len(expected_ids), "the DUP resends reached the broker")
    assert resent_ids() == expected_ids


# ---- keepalive and ending -----------------------------------------------------------------------


def test_keepalive_pings_keep_a_silent_link_connected(rig: LinkRig) -> None:
    inbox = Inbox()
    link = connected(rig.link(inbox, keepalive_s=2))
    topic = f"link/{link.client_id}/in"
    assert link.subscribe(topic)
    # Silence well past mosquitto's limit (1.5 x keepalive = 3 s without a packet). This sleep is
    # the scenario, not a measurement.
    time.sleep(5)
    log = rig.log()
    assert f"Client {link.client_id} has exceeded timeout" not in log
    assert f"Received PINGREQ from {link.client_id}" in log
    assert log.count(f"as {link.client_id} (") == 1  # no reconnect in between
    assert link.connected.is_set()
    rig.device().publish(topic, b"still here", qos=1)
    assert [m.payload for m in inbox.take(1)] == [b"still here"]


def test_stop_sends_disconnect_and_ends_the_thread(rig: LinkRig) -> None:
    link = connected(rig.link(Inbox()))
    link.stop()
    assert not network_thread_alive(link)
    assert not link.connected.is_set()
    wait_for(lambda: f"Client {link.client_id} disconnected." in rig.log(), "a clean DISCONNECT")
    assert f"Client {link.client_id} closed its connection" not in rig.log()
    link.stop()  # again: harmless


def test_a_second_stop_leaves_other_files_alone(rig: LinkRig) -> None:
    link = connected(rig.link(Inbox()))
    link.stop()
    # The file descriptors the link's wake-up pipe had are free now: a new pipe likely gets them.
    read_end, write_end = os.pipe()
    try:
        link.stop()
        link.publish(f"link/{link.client_id}/late", b"after stop")  # wakes a stopped link
        os.set_blocking(read_end, False)
        with pytest.raises(BlockingIOError):  # nothing was written into someone else's pipe
            os.read(read_end, 16)
        os.write(write_end, b"ok")  # and it is still open
        assert os.read(read_end, 16) == b"ok"
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_refused_certificate_never_connects_and_stop_still_ends_it(
    rig: LinkRig, caplog: pytest.LogCaptureFixture
) -> None:
    client_id = rig.name("stranger")
    stranger = ThrowawayCa().client(client_id)  # not signed by the broker's CA
    cert, key = rig.directory / "stranger.crt", rig.directory / "stranger.key"
    cert.write_bytes(stranger.cert_bytes())
    key.write_bytes(stranger.key_bytes())
    key.chmod(0o600)
    caplog.set_level(logging.WARNING, logger="rig.mqtt.link")
    link = rig.link(Inbox(), identity=ClientIdentity(cert, key), client_id=client_id)

    def attempts() -> int:
        return sum(f"MQTT link {client_id} lost" in r.getMessage() for r in caplog.records)

    wait_for(lambda: attempts() >= 2, "two refused connection attempts")
    assert not link.connected.is_set()
    link.stop()
    assert not network_thread_alive(link)
    assert not link.connected.is_set()


class RefusingBroker:
    """A one-connection stand-in for a broker that answers every SUBSCRIBE with 0x80 (failure),
    as AWS IoT does for a filter the policy denies; mosquitto 2.0 never refuses one."""

    def __init__(self, cloud: Cloud, directory: Path) -> None:
        server = cloud.ca.issue_server_certificate(["localhost", "127.0.0.1"])
        assert server.private_key_pem is not None
        cert, key = directory / "refusing.crt", directory / "refusing.key"
        cert.write_text(server.certificate_pem)
        key.write_text(server.private_key_pem)
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(cert, key)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.subscribed: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        raw, _ = self.listener.accept()
        with self.tls.wrap_socket(raw, server_side=True) as sock:
            reader = packets.PacketReader()
            while True:
                data = sock.recv(4096)
                if not data:
                    return
                for packet in reader.feed(data):
                    if packet.kind == packets.CONNECT:
                        sock.sendall(b"\x20\x02\x00\x00")
                    elif packet.kind == packets.SUBSCRIBE:
                        self.subscribed.append(packet.body[2:])
                        filters = _filter_count(packet.body[2:])
                        body = packet.body[:2] + bytes([packets.SUBACK_FAILURE] * filters)
                        sock.sendall(bytes([0x90, len(body)]) + body)
                    elif packet.kind == packets.PINGREQ:
                        sock.sendall(b"\xd0\x00")


def _filter_count(payload: bytes) -> int:
    count, position = 0, 0
    while position < len(payload):
        position += 2 + int.from_bytes(payload[position : position + 2], "big") + 1
        count += 1
    return count


def test_subscribe_is_false_when_the_broker_answers_failure(rig: LinkRig) -> None:
    fake = RefusingBroker(rig.cloud, rig.directory)
    endpoint = BrokerEndpoint("127.0.0.1", fake.port, rig.cloud.ca.certificate_file)
    link = MqttLink(endpoint, rig.identity(rig.name("refused")), "refused", Inbox())
    link.start()
    try:
        connected(link)
        assert link.subscribe("denied/topic", 1) is False
        assert any(b"denied/topic" in sent for sent in fake.subscribed)
    finally:
        link.stop()


# ---- persistent session, acknowledged once handled ------------------------------------------


@pytest.mark.parametrize("handled", [False, True])
def test_a_message_acknowledged_only_once_handled_comes_again_to_the_next_session(
    rig: LinkRig, handled: bool
) -> None:
    """With `acknowledge_on_receipt=False` the PUBACK leaves when the receiver calls
    `acknowledge()`: a link that ended before that (its process killed mid-way) gets the message
    again in its persistent session; one that acknowledged it does not."""
    client_id = rig.name("durable")
    identity = rig.identity(client_id)
    inbox = Inbox()
    first = connected(
        rig.link(
            inbox,
            identity=identity,
            client_id=client_id,
            clean_session=False,
            acknowledge_on_receipt=False,
        )
    )
    topic = f"link/{client_id}/in"
    assert first.subscribe(topic, qos=1)
    rig.device().publish(topic, b"click", qos=1)
    (message,) = inbox.take(1)
    if handled:
        first.acknowledge(message.packet_id)
        wait_for(
            lambda: f"Received PUBACK from {client_id} (Mid: {message.packet_id}" in rig.log(),
            "the PUBACK reached the broker",
        )
    first.stop()

    again = Inbox()

    def handle(received: Publish) -> None:
        again(received)
        second.acknowledge(received.packet_id)

    second = rig.link(
        handle,
        identity=identity,
        client_id=client_id,
        clean_session=False,
        acknowledge_on_receipt=False,
    )
    connected(second)
    if handled:
        assert again.nothing_more(1.0)
    else:
        (redelivered,) = again.take(1)
        assert (redelivered.topic, redelivered.payload) == (topic, b"click")
