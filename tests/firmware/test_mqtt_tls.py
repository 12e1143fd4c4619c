"""The firmware MQTT client (firmware/mqtt.py) on the unix port against a real mosquitto with mTLS.

DER certificates, CERT_REQUIRED, a broker certificate for another host name must be refused;
QoS 1 resend after a dropped connection; keep-alive with a PINGRESP deadline.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from cert_kit import DER, PEM, ThrowawayCa
from paho.mqtt.enums import CallbackAPIVersion

from rig.unix_port.process import MicroPythonProcess

MOSQUITTO = "/usr/sbin/mosquitto"
THING = "button-mqtt-test"
WAIT = 30.0  # generous: a loaded 2-core CI machine


# -- a throwaway PKI and broker (rig.broker replaces this once it lands) --


@dataclass(frozen=True)
class Pki:
    dir: Path
    ca_pem: Path
    ca_der: Path
    client_cert_pem: Path
    client_key_pem: Path
    client_cert_der: Path
    client_key_der: Path
    other_ca_der: Path
    stranger_cert_der: Path  # a client certificate from a CA the broker does not trust
    stranger_key_der: Path


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o644)
    return path


def make_pki(root: Path) -> Pki:
    root.chmod(0o755)  # mosquitto may read it as another user
    ca, other_ca = ThrowawayCa(), ThrowawayCa()
    good = ca.server("localhost", "127.0.0.1")
    wrong = ca.server("wrong.example")  # trusted CA, another host name
    client = ca.client(THING)
    stranger = other_ca.client(THING)
    _write(root / "server.crt", good.cert_bytes(PEM))
    _write(root / "server.key", good.key_bytes(PEM))
    _write(root / "wrong.crt", wrong.cert_bytes(PEM))
    _write(root / "wrong.key", wrong.key_bytes(PEM))
    return Pki(
        dir=root,
        ca_pem=_write(root / "ca.crt", ca.cert_bytes(PEM)),
        ca_der=_write(root / "ca.der", ca.cert_bytes(DER)),
        client_cert_pem=_write(root / "client.crt", client.cert_bytes(PEM)),
        client_key_pem=_write(root / "client.key", client.key_bytes(PEM)),
        client_cert_der=_write(root / "client.crt.der", client.cert_bytes(DER)),
        client_key_der=_write(root / "client.key.der", client.key_bytes(DER)),
        other_ca_der=_write(root / "other-ca.der", other_ca.cert_bytes(DER)),
        stranger_cert_der=_write(root / "stranger.crt.der", stranger.cert_bytes(DER)),
        stranger_key_der=_write(root / "stranger.key.der", stranger.key_bytes(DER)),
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Broker:
    port: int  # server certificate for localhost
    wrong_port: int  # server certificate for wrong.example
    log: Path

    def count(self, text: str) -> int:
        return self.log.read_text(errors="replace").count(text)

    def wait_log(self, text: str, count: int = 1, timeout: float = WAIT) -> None:
        """Wait until the broker's log holds `text` at least `count` times."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.log.read_text(errors="replace")
            if log.count(text) >= count:
                return
            if time.monotonic() > deadline:
                tail = "\n".join(log.splitlines()[-15:])
                raise AssertionError(f"broker log lacks {count}x {text!r}; its tail:\n{tail}")
            time.sleep(0.05)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def broker(pki: Pki) -> Iterator[Broker]:
    port, wrong_port = free_port(), free_port()
    conf = pki.dir / "mosquitto.conf"
    listeners = ""
    for p, name in ((port, "server"), (wrong_port, "wrong")):
        listeners += (
            f"listener {p} 127.0.0.1\ncafile {pki.ca_pem}\ncertfile {pki.dir / name}.crt\n"
            f"keyfile {pki.dir / name}.key\nrequire_certificate true\n"
            "use_identity_as_username true\n"
        )
    conf.write_text(
        "per_listener_settings false\npersistence false\nuser root\nlog_type all\n"
        f"log_dest file {pki.dir / 'broker.log'}\n"
        "allow_anonymous false\n" + listeners
    )
    proc = subprocess.Popen(
        [MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + WAIT
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto did not start: {proc.stderr.read()!r}")  # type: ignore[union-attr]
            time.sleep(0.02)
        yield Broker(port, wrong_port, pki.dir / "broker.log")
    finally:
        proc.terminate()
        proc.wait(10)


class Proxy:
    """A TCP relay between the device and the broker that can lose the broker's replies or
    cut every connection with a reset, to make the network fail on cue."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.drop_downstream = False
        self.dropped = 0  # bytes from the broker thrown away
        self.connections = 0
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._resetting = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self._resetting = False
            with self._lock:
                self.connections += 1
                self._socks += [client, upstream]
            threading.Thread(
                target=self._pump, args=(client, upstream, False), daemon=True
            ).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, downstream: bool) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(4096):
                if downstream and self.drop_downstream:
                    self.dropped += len(data)
                else:
                    dst.sendall(data)
        with contextlib.suppress(OSError):
            if self._resetting:
                src.close()  # SO_LINGER 0 is set: the close sends a reset
                dst.close()
            else:
                dst.shutdown(socket.SHUT_WR)

    def reset_all(self) -> None:
        """Cut every open connection with a TCP reset (SO_LINGER 0)."""
        self._resetting = True
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            with contextlib.suppress(OSError):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.shutdown(socket.SHUT_RD)  # wakes the pump, which closes it

    def close(self) -> None:
        self.listener.close()
        self.reset_all()


DEVICE_PRELUDE = """
import asyncio, mqtt, sys
def rd(p):
    with open(p, 'rb') as f:
        return f.read()
def ctx(ca=%(ca)r, cert=%(cert)r, key=%(key)r):
    return mqtt.tls_context(rd(cert), rd(key), rd(ca))
async def flag(name):
    # the test creates this file when it has set the scene (an observable step, not a delay)
    import os
    while True:
        try:
            os.stat(name)
            return
        except OSError:
            await asyncio.sleep_ms(20)
def state(s, e):
    print('STATE', s, e.kind if e else '-', e.detail if e else '')
def up():
    state('up', None)
def msg(t, p):
    print('MSG', t.decode(), p.decode())
async def keep(c):
    # sessions back to back, as connection.Connection runs them on the board (without its link
    # watch, clock and back-off)
    while True:
        try:
            await c.session()
        except mqtt.Fault as e:
            state('down', e)
        await asyncio.sleep_ms(100)
"""


def device(pki: Pki, body: str, tmp_path: Path) -> MicroPythonProcess:
    """A unix-port process running a script that drives firmware/mqtt.py."""
    prelude = DEVICE_PRELUDE % {
        "ca": str(pki.ca_der),
        "cert": str(pki.client_cert_der),
        "key": str(pki.client_key_der),
    }
    key_der = pki.client_key_der.read_bytes()
    key_pem_lines = pki.client_key_pem.read_text().splitlines()[1:-1]
    secrets = [key_der.hex(), key_der.hex().upper(), *key_pem_lines]  # never on the console
    return MicroPythonProcess(prelude + body, workdir=tmp_path, secrets=secrets)


@pytest.fixture
def cloud(pki: Pki, broker: Broker) -> Iterator[tuple[paho.Client, queue.Queue[paho.MQTTMessage]]]:
    """A paho client subscribed to everything (plays the cloud)."""
    received: queue.Queue[paho.MQTTMessage] = queue.Queue()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="cloud-observer")
    client.tls_set(str(pki.ca_pem), str(pki.client_cert_pem), str(pki.client_key_pem))
    subscribed = threading.Event()
    client.on_message = lambda _c, _u, m: received.put(m)
    client.on_subscribe = lambda *_a: subscribed.set()

    def on_connect(c: paho.Client, *_a: object) -> None:
        c.subscribe("dev/#", qos=1)

    client.on_connect = on_connect
    client.connect("localhost", broker.port)
    client.loop_start()
    assert subscribed.wait(WAIT), "observer could not subscribe"
    yield client, received
    client.loop_stop()
    client.disconnect()


def next_message(q: queue.Queue[paho.MQTTMessage], topic: str) -> paho.MQTTMessage:
    deadline = time.monotonic() + WAIT
    seen: list[str] = []
    while time.monotonic() < deadline:
        try:
            m = q.get(timeout=0.5)
        except queue.Empty:
            continue
        if m.topic == topic:
            return m
        seen.append(m.topic)
    raise AssertionError(f"no message on {topic}; saw {seen}")


@pytest.mark.slow
def test_publish_and_subscribe_over_mutual_tls(
    pki: Pki, broker: Broker, cloud, tmp_path: Path
) -> None:
    _, received = cloud
    dev = device(
        pki,
        f"""
async def main():
    c = mqtt.Client({THING!r}, 'localhost', {broker.port}, ctx())
    c.on_up.append(up)
    asyncio.create_task(keep(c))
    await c.connected.wait()
    await c.route('dev/in', msg, 1)
    print('SUBSCRIBED')
    await c.publish('dev/out', b'{{"n":1}}', 1)
    print('PUBACK')
    await c.publish('dev/out0', 'q0', 0)
    await flag('unsubscribe')
    await c.route('dev/in2', msg, 1)
    await c.unroute('dev/in')
    print('UNSUBSCRIBED')
    await asyncio.sleep(60)
asyncio.run(main())
""",
        tmp_path,
    )
    try:
        dev.expect("STATE up")
        dev.expect("SUBSCRIBED")
        dev.expect("PUBACK")
        assert next_message(received, "dev/out").payload == b'{"n":1}'
        assert next_message(received, "dev/out0").payload == b"q0"
        client, _ = cloud
        client.publish("dev/in", b"hello", qos=1)
        assert dev.expect("MSG") == "MSG dev/in hello"
        (tmp_path / "unsubscribe").touch()
        dev.expect("UNSUBSCRIBED")
        client.publish("dev/in", b"not for me", qos=1)  # unsubscribed: must not arrive
        client.publish("dev/in2", b"after", qos=1)  # same publisher, same order
        assert dev.expect("MSG") == "MSG dev/in2 after"
    finally:
        dev.close()


CONNECT_ONCE = """
async def main():
    c = mqtt.Client({thing!r}, {host!r}, {port}, {ctx})
    try:
        await c.session()
    except mqtt.Fault as e:
        print('FAIL', e.kind)
asyncio.run(main())
"""


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("wrong_hostname", "tls"),
        ("wrong_ca", "tls"),
        # the broker aborts the handshake after our certificate: our identity was refused
        ("untrusted_client", "forbidden"),
        ("refused", "connect"),
        ("unresolvable", "dns"),
    ],
)
def test_connection_failures_are_classified(
    pki: Pki, broker: Broker, tmp_path: Path, case: str, expected: str
) -> None:
    host, port, ctx = "localhost", broker.port, "ctx()"
    if case == "wrong_hostname":
        port = broker.wrong_port  # certificate signed by the trusted CA, for wrong.example
    elif case == "wrong_ca":
        ctx = f"ctx({str(pki.other_ca_der)!r})"
    elif case == "untrusted_client":
        ctx = f"ctx(cert={str(pki.stranger_cert_der)!r}, key={str(pki.stranger_key_der)!r})"
    elif case == "refused":
        port = free_port()
    else:
        host = "no-such-host.invalid"
    dev = device(pki, CONNECT_ONCE.format(thing=THING, host=host, port=port, ctx=ctx), tmp_path)
    try:
        assert dev.expect("FAIL") == f"FAIL {expected}"
    finally:
        dev.close()


@pytest.mark.slow
def test_qos1_publish_is_resent_with_dup_after_a_dropped_connection(
    pki: Pki, broker: Broker, cloud, tmp_path: Path
) -> None:
    _, received = cloud
    proxy = Proxy(broker.port)
    dev = device(
        pki,
        f"""
async def main():
    c = mqtt.Client({THING!r}, 'localhost', {proxy.port}, ctx())
    c.on_up.append(up)
    asyncio.create_task(keep(c))
    await c.connected.wait()
    await flag('go')
    await c.publish('dev/resend', b'click-1', 1)
    print('PUBACK', c.pending())
    await asyncio.sleep(60)
asyncio.run(main())
""",
        tmp_path,
    )
    try:
        dev.expect("STATE up")
        pubacks = broker.count(f"Sending PUBACK to {THING}")
        dups = broker.count(f"Received PUBLISH from {THING} (d1, q1, r0")
        proxy.drop_downstream = True  # the PUBACK will be lost
        (tmp_path / "go").touch()
        assert next_message(received, "dev/resend").payload == b"click-1"
        broker.wait_log(f"Sending PUBACK to {THING}", pubacks + 1)
        deadline = time.monotonic() + WAIT
        while not proxy.dropped:  # the broker logs before it writes: wait until it is gone
            assert time.monotonic() < deadline, "the PUBACK never reached the proxy"
            time.sleep(0.02)
        proxy.drop_downstream = False
        proxy.reset_all()
        dev.expect("STATE down")
        assert dev.expect("STATE up") == "STATE up - "
        assert dev.expect("PUBACK") == "PUBACK 0"
        broker.wait_log(f"Received PUBLISH from {THING} (d1, q1, r0", dups + 1)
        assert next_message(received, "dev/resend").payload == b"click-1"
        assert proxy.connections == 2
    finally:
        dev.close()
        proxy.close()


@pytest.mark.slow
def test_keepalive_pings_and_a_missing_pingresp_ends_the_session(
    pki: Pki, broker: Broker, tmp_path: Path
) -> None:
    proxy = Proxy(broker.port)
    dev = device(
        pki,
        f"""
async def main():
    c = mqtt.Client({THING!r}, 'localhost', {proxy.port}, ctx())
    c.KEEPALIVE_S = 2
    c.PING_TIMEOUT_MS = 1500
    c.on_up.append(up)
    try:
        await c.session()
    except mqtt.Fault as e:
        print('FAIL', e.kind, e.detail)
asyncio.run(main())
""",
        tmp_path,
    )
    try:
        before = broker.count(f"Received PINGREQ from {THING}")
        dev.expect("STATE up")
        broker.wait_log(f"Received PINGREQ from {THING}", before + 2)
        assert not [line for line in dev.lines if line.startswith("FAIL")]
        proxy.drop_downstream = True  # PINGRESPs vanish
        assert dev.expect("FAIL") == "FAIL timeout no PINGRESP"
    finally:
        dev.close()
        proxy.close()


SENDER = """
import outbox
box = outbox.Outbox()
c = mqtt.Client({thing!r}, 'localhost', {port}, ctx())
c.on_up.append(up)
def show(p):
    print('LED', p)
sender = outbox.ClickSender(box, c, 'G030JF055364XVRB', lambda: 'dev/clicks', lambda: 2950,
                            lambda: '2026-11-22T02:34:57.141Z', show)
async def main():
    asyncio.create_task(keep(c))
    asyncio.create_task(sender.run())
    await asyncio.sleep_ms(0)
    for i in range({clicks}):
        sender.on_click({{'type': 'SINGLE', 'id': 'id%d-{run}' % i}})
    print('QUEUED', len(box))
    while len(box):
        await asyncio.sleep_ms(20)
    print('EMPTY')
    await asyncio.sleep(60)
asyncio.run(main())
"""


@pytest.mark.slow
def test_clicks_wait_in_the_outbox_across_a_restart_and_go_out_oldest_first(
    pki: Pki, broker: Broker, cloud, tmp_path: Path
) -> None:
    _, received = cloud
    offline = device(
        pki, SENDER.format(thing=THING, port=free_port(), clicks=3, run="a"), tmp_path
    )
    try:
        assert offline.expect("QUEUED") == "QUEUED 3"
        assert offline.expect("STATE down").startswith("STATE down connect")
    finally:
        offline.close()  # power cut: the clicks are only on flash now
    assert len(list((tmp_path / "outbox.q").iterdir())) == 3
    online = device(pki, SENDER.format(thing=THING, port=broker.port, clicks=1, run="b"), tmp_path)
    try:
        online.expect("EMPTY")
        ids = [
            json.loads(next_message(received, "dev/clicks").payload)["eventId"] for _ in range(4)
        ]
        assert ids == ["id0-a", "id1-a", "id2-a", "id0-b"]
        assert "LED published" in online.lines
        assert list((tmp_path / "outbox.q").iterdir()) == []
    finally:
        online.close()


class RefusingBroker:
    """A TLS server (the test CA's localhost certificate) that answers CONNECT the way a broker
    refusing this identity might: `connack5`, `close` (hang up, as AWS IoT does when iot:Connect
    is not allowed), or accept and then refuse the first SUBSCRIBE (`suback80`) or hang up on it
    (`close_on_subscribe`), hang up on every PUBLISH without a PUBACK (`close_on_publish`: AWS
    IoT's answer to a publish the policy denies; `reset_on_publish`: the same with a TCP reset)
    or only on the first connection's (`close_once_on_publish`: a server-side close that happens
    to follow a publish, e.g. a restart), acknowledging it on later connections. Serves each
    connection in turn."""

    def __init__(self, pki: Pki, mode: str) -> None:
        self.mode = mode
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(pki.dir / "server.crt", pki.dir / "server.key")
        self.ctx.load_verify_locations(pki.ca_pem)
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.connections = 0  # served to their end
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                raw, _ = self.listener.accept()
                with (
                    contextlib.suppress(OSError),
                    self.ctx.wrap_socket(raw, server_side=True) as tls,
                ):
                    self._session(tls)
                self.connections += 1

    def _session(self, tls: ssl.SSLSocket) -> None:
        first = tls.recv(1)[0]
        assert first == 0x10, "expected CONNECT"
        tls.recv(4096)
        if self.mode == "close":
            return
        tls.sendall(b"\x20\x02\x00" + (b"\x05" if self.mode == "connack5" else b"\x00"))
        while data := tls.recv(4096):
            if data[0] == 0x82 and self.mode == "suback80":
                tls.sendall(b"\x90\x03" + data[2:4] + b"\x80")
            if data[0] == 0x82 and self.mode == "close_on_subscribe":
                return
            if data[0] & 0xF0 == 0x30:
                if self.mode == "reset_on_publish":  # a TCP reset instead of a clean close
                    tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                refused = self.mode == "close_on_publish" or (
                    self.mode == "close_once_on_publish" and not self.connections
                )
                if refused:
                    return
                # QoS 1 PUBLISH: remaining length < 128 here, the packet id after the topic
                topic_len = int.from_bytes(data[2:4], "big")
                pid = data[4 + topic_len : 6 + topic_len]
                tls.sendall(b"\x40\x02" + pid)

    def close(self) -> None:
        self.listener.close()


REFUSED = """
async def main():
    c = mqtt.Client({thing!r}, 'localhost', {port}, ctx())
    c.on_up.append(up)
    task = asyncio.create_task(c.session())
    await asyncio.sleep_ms(0)
    try:
        if {op!r} == 'session':
            await task
        else:
            await c.connected.wait()
            if {op!r} == 'subscribe':
                await c.route('dev/secret', msg, 1)
            else:
                asyncio.create_task(c.publish('dev/secret', b'x', 1))
                await task
        print('NO FAILURE')
    except mqtt.Fault as e:
        print('FAIL', e.kind, e.detail)
asyncio.run(main())
"""


@pytest.mark.parametrize(
    ("mode", "op"),
    [
        ("connack5", "session"),
        ("close", "session"),
        ("suback80", "subscribe"),
        ("close_on_subscribe", "subscribe"),
    ],
)
def test_refusals_are_classified_forbidden(pki: Pki, tmp_path: Path, mode: str, op: str) -> None:
    broker = RefusingBroker(pki, mode)
    dev = device(pki, REFUSED.format(thing=THING, port=broker.port, op=op), tmp_path)
    try:
        assert dev.expect("FAIL").startswith("FAIL forbidden ")
    finally:
        dev.close()
        broker.close()


PUBLISHER = """
async def main():
    c = mqtt.Client({thing!r}, 'localhost', {port}, ctx())
    c.on_up.append(up)
    asyncio.create_task(keep(c))
    await c.connected.wait()
    await c.publish('dev/clicks', b'click', 1)
    print('PUBACK', c.pending())
    await asyncio.sleep(60)
asyncio.run(main())
"""


@pytest.mark.parametrize("refusal", ["close_on_publish", "reset_on_publish"])
def test_a_publish_closed_twice_without_puback_is_forbidden_once_is_not(
    pki: Pki, tmp_path: Path, refusal: str
) -> None:
    """AWS IoT closes the connection without a PUBACK on a publish the policy denies; a close for
    any other reason (a restart, an operator's disconnect) can also follow a publish. The device
    cannot tell the two apart from one close: the first is `closed`. The same message sent again
    (DUP) on the next session and closed again unanswered is `forbidden`. A reset counts as a
    close: which of the two a device sees depends on the server and on unread bytes."""
    for name in ("refused", "once"):
        (tmp_path / name).mkdir()
    refusing = RefusingBroker(pki, refusal)
    dev = device(pki, PUBLISHER.format(thing=THING, port=refusing.port), tmp_path / "refused")
    try:
        dev.expect("STATE up")
        assert dev.expect("STATE down") == "STATE down closed closed after a publish, no PUBACK"
        dev.expect("STATE up")
        assert dev.expect("STATE down") == (
            "STATE down forbidden closed twice after the same publish, no PUBACK"
        )
        dev.expect("STATE up")
        assert dev.expect("STATE down").startswith("STATE down forbidden ")  # until allowed
        assert not [line for line in dev.lines if line.startswith("PUBACK")]
    finally:
        dev.close()
        refusing.close()
    once = RefusingBroker(pki, "close_once_on_publish")
    dev = device(pki, PUBLISHER.format(thing=THING, port=once.port), tmp_path / "once")
    try:
        dev.expect("STATE up")
        assert dev.expect("STATE down") == "STATE down closed closed after a publish, no PUBACK"
        dev.expect("STATE up")
        assert dev.expect("PUBACK") == "PUBACK 0"  # sent again and acknowledged: no refusal
        assert not [line for line in dev.lines if "forbidden" in line]
    finally:
        dev.close()
        once.close()
