# MQTT 3.1.1 client over mutual TLS, shaped by what AWS IoT supports: clean sessions only,
# QoS 0/1, no retained messages. QoS 1 publishes are resent with DUP after a reconnect until
# PUBACK; keep-alive with a PINGRESP deadline. Incoming messages go to routes (a handler per
# topic filter, so several agents can listen), subscribed again on each new session. Failures
# are fault.Fault (dns / connect / tls / forbidden / timeout / closed / protocol) so the LED can
# show which step broke. Packet encoding is pure so it also runs under CPython.
import asyncio
import select
import socket
import struct
import time

# From-imports, never errno.X: the port's compiler folds errno.X into its own build's number when
# it compiles source (the unix port's are Linux's, an ESP32's newlib's).
from errno import EINPROGRESS

import stall
from fault import Fault, from_connack, from_tls

try:
    from micropython import const
except ImportError:  # CPython runs the packet functions in the tests
    const = int

# const: inlined by the compiler, no global or qstr on the board
_CONNECT = const(0x10)
_CONNACK = const(0x20)
_PUBLISH = const(0x30)
_PUBACK = const(0x40)
_SUBSCRIBE = const(0x82)
_SUBACK = const(0x90)
_UNSUBSCRIBE = const(0xA2)
_UNSUBACK = const(0xB0)
PINGREQ = b"\xc0\x00"
_PINGRESP = const(0xD0)

_MAX_PACKET = const(16384)  # an incoming packet larger than this drops the connection (RAM bound)
# A close (EOF or reset) this soon after an unanswered request may be its refusal: AWS IoT answers a
# publish or subscribe the policy denies by closing the connection, with no PUBACK/SUBACK.
_REFUSAL_WINDOW_MS = const(2000)


def _s16(b):
    return struct.pack("!H", len(b)) + b


def _b(s):
    return s if isinstance(s, bytes) else s.encode()


def encode_length(n):
    if n < 0 or n > 268435455:
        raise ValueError("remaining length")
    out = bytearray()
    while True:
        d = n & 0x7F
        n >>= 7
        out.append(d | (0x80 if n else 0))
        if not n:
            return bytes(out)


def packet(header, body):
    return bytes((header,)) + encode_length(len(body)) + body


def connect_packet(client_id, keepalive):
    # protocol level 4, flags 0x02 = clean session, no will, no user name
    return packet(
        _CONNECT, _s16(b"MQTT") + b"\x04\x02" + struct.pack("!H", keepalive) + _s16(_b(client_id))
    )


def publish_packet(topic, payload, qos=0, pid=0, dup=False):
    if qos not in (0, 1):
        raise ValueError("qos")
    hdr = _PUBLISH | (qos << 1) | (0x08 if dup else 0)
    body = _s16(_b(topic)) + (struct.pack("!H", pid) if qos else b"") + _b(payload)
    return packet(hdr, body)


def subscribe_packet(pid, topic, qos):
    return packet(_SUBSCRIBE, struct.pack("!H", pid) + _s16(_b(topic)) + bytes((qos,)))


def unsubscribe_packet(pid, topic):
    return packet(_UNSUBSCRIBE, struct.pack("!H", pid) + _s16(_b(topic)))


def puback_packet(pid):
    return packet(_PUBACK, struct.pack("!H", pid))


def parse_publish(flags, body):
    # -> (topic bytes, payload bytes, qos, pid, dup)
    if len(body) < 2:
        raise Fault("protocol", "short publish")
    n = struct.unpack_from("!H", body, 0)[0]
    qos = (flags >> 1) & 3
    off = 2 + n
    if qos > 1 or len(body) < off + (2 if qos else 0):
        raise Fault("protocol", "bad publish")
    pid = 0
    if qos:
        pid = struct.unpack_from("!H", body, off)[0]
        off += 2
    return bytes(body[2 : 2 + n]), bytes(body[off:]), qos, pid, bool(flags & 0x08)


def decode_length(data, off):
    # Remaining length starting at data[off]; -> (value, next offset) or None if incomplete
    n = 0
    shift = 0
    while True:
        if off >= len(data):
            return None
        d = data[off]
        off += 1
        n |= (d & 0x7F) << shift
        if not d & 0x80:
            return n, off
        shift += 7
        if shift > 21:
            raise Fault("protocol", "remaining length")


async def open_tls(host, port, ctx, timeout_ms=10000):
    # DNS, TCP and TLS as separate steps so a failure names its step.
    # -> (stream, [TLS socket, TCP socket]): the caller closes both sockets (asyncio's
    # Stream.close() closes nothing, and after a failed handshake the TLS socket has forgotten
    # the TCP one: MicroPython's modtls_mbedtls.c), or lwIP's few sockets leak until a GC.
    await stall.quiet()  # a gesture in progress is not cut in two by the lookup
    stall.begin()
    try:
        ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
    except OSError as e:
        raise Fault("dns", str(e))
    finally:
        stall.end()
    s = socket.socket(ai[0], ai[1], ai[2])
    try:
        s.setblocking(False)
        try:
            s.connect(ai[-1])
        except OSError as e:
            if e.errno != EINPROGRESS:
                raise Fault("connect", str(e))
        p = select.poll()
        # An ESP32 socket reports a failed connect as writable, and as POLLHUP only when asked
        # (MicroPython ports/esp32/modsocket.c): ask, or a refusal looks like a TLS failure.
        p.register(s, select.POLLOUT | select.POLLHUP | select.POLLERR)
        t0 = time.ticks_ms()
        while True:
            ev = p.poll(0)
            if ev:
                if ev[0][1] & (select.POLLERR | select.POLLHUP):
                    raise Fault("connect", "refused")
                break
            if time.ticks_diff(time.ticks_ms(), t0) > timeout_ms:
                raise Fault("connect", "timeout")
            await asyncio.sleep_ms(10)
        await stall.quiet()  # nor by the handshake the caller starts next
        try:
            ss = ctx.wrap_socket(s, server_hostname=host, do_handshake_on_connect=False)
        except (OSError, ValueError) as e:
            raise Fault("tls", str(e))
        ss.setblocking(False)
    except BaseException:
        s.close()
        raise
    # MicroPython's Stream both reads and writes (CPython's stubs split it in two)
    return getattr(asyncio, "StreamReader")(ss), [ss, s]


def _close_all(socks):
    for s in socks:
        try:
            s.close()
        except Exception:  # closing what is already broken must not hide why
            pass


def tls_context(cert, key, ca):
    # cert, key, ca: DER bytes (or file paths). The unix port and ESP32 both take DER.
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_cert_chain(cert, key)
    if isinstance(ca, bytes):
        ctx.load_verify_locations(cadata=ca)
    else:
        ctx.load_verify_locations(cafile=ca)
    ctx.verify_mode = ssl.CERT_REQUIRED  # MicroPython defaults to CERT_NONE
    return ctx


def topic_matches(topic_filter, topic):
    # MQTT 3.1.1 section 4.7: "+" is one level (may be empty), a trailing "#" the parent level and
    # all below it; a filter starting with a wildcard never matches a "$" topic ($aws/...).
    f = topic_filter.split("/")
    t = topic.split("/")
    if f[0] in ("+", "#") and t[0][:1] == "$":
        return False
    for i, level in enumerate(f):
        if level == "#":
            return True
        if i == len(t) or (level != "+" and level != t[i]):
            return False
    return len(f) == len(t)


class Client:
    # Tunables (override on the class or an instance)
    KEEPALIVE_S = 60
    PING_TIMEOUT_MS = 10000  # no PINGRESP this long after a PINGREQ ends the session
    CONNECT_TIMEOUT_MS = 15000  # TCP connect, and TLS handshake to CONNACK, each

    def __init__(self, client_id, host, port, ctx):
        self.client_id = client_id
        self.host = host
        self.port = port
        self.ctx = ctx
        self.on_up = []  # f() each, in order, when a session is up (the connection, the agents)
        self.connected = asyncio.Event()
        self.failures = 0  # sessions failed in a row (connection.Connection counts them)
        self.starved = False  # the last session, or the attempt at one, ran out of heap
        self._stream = None
        self._socks = []  # the session's TLS and TCP sockets (open_tls)
        self._pid = 0
        self._pending = {}  # pid -> [publish packet, Event, kind-or-None]
        self._routes = {}  # topic filter -> [handler, qos]; subscribed on each new session
        self._waits = {}  # pid -> [Event, result] for SUBACK / UNSUBACK
        self._last_tx = 0
        self._last_request = 0
        self._ping_sent = 0
        self._fail = None

    def _next_pid(self):
        while True:
            self._pid = self._pid % 65535 + 1
            if self._pid not in self._pending and self._pid not in self._waits:
                return self._pid

    async def _send(self, data):
        st = self._stream
        if st is None:
            raise Fault("closed")
        st.write(data)
        await st.drain()
        self._last_tx = time.ticks_ms()

    # -- public API --

    async def publish(self, topic, payload, qos=0):
        # QoS 1: returns once PUBACK arrived (resent with DUP after reconnects until then).
        if qos == 0:
            if not self.connected.is_set():
                raise Fault("closed")
            await self._send(publish_packet(topic, payload))
            return
        pid = self._next_pid()
        entry = [
            publish_packet(topic, payload, 1, pid),
            asyncio.Event(),
            False,
            0,
        ]  # pkt, acked, sent (resent with DUP), sessions closed right after it
        self._pending[pid] = entry
        try:
            if self.connected.is_set():
                self._last_request = time.ticks_ms()
                entry[2] = True
                try:
                    await self._send(entry[0])
                except (OSError, Fault):
                    pass  # resent after the reconnect
            await entry[1].wait()
        finally:
            self._pending.pop(pid, None)

    def pending(self):
        return len(self._pending)

    async def route(self, topic_filter, handler, qos=1):
        # handler(topic bytes, payload bytes) gets every message matching the filter (one handler
        # per filter; several filters may match one message). Subscribed now when a session is up
        # (returns after the SUBACK; a refusal raises Fault "forbidden"), else when one starts.
        self._routes[topic_filter] = [handler, qos]
        if self.connected.is_set():
            pid = self._next_pid()
            await self._request(pid, subscribe_packet(pid, topic_filter, qos))

    async def unroute(self, topic_filter):
        self._routes.pop(topic_filter, None)
        if self.connected.is_set():
            pid = self._next_pid()
            await self._request(pid, unsubscribe_packet(pid, topic_filter))

    async def _request(self, pid, pkt):
        w = [asyncio.Event(), None]
        self._waits[pid] = w
        try:
            self._last_request = time.ticks_ms()
            await self._send(pkt)
            await w[0].wait()
        finally:
            self._waits.pop(pid, None)
        if w[1] is not None:
            raise w[1]

    # -- connection --

    async def connect(self):
        self._stream = None
        self._checked = False
        # ssl.SSLContext wraps a tls.SSLContext, which takes the callback
        setattr(getattr(self.ctx, "_context", self.ctx), "verify_callback", self._on_broker_cert)
        st, socks = await open_tls(self.host, self.port, self.ctx, self.CONNECT_TIMEOUT_MS)
        stall.begin()  # the handshake's crypto runs inside one of its reads (a blocking call)
        try:
            await asyncio.wait_for_ms(self._handshake(st), self.CONNECT_TIMEOUT_MS)
        except BaseException as e:
            _close_all(socks)
            if isinstance(e, asyncio.TimeoutError):
                raise Fault("timeout", "no CONNACK")
            raise
        finally:
            stall.end()
        self._stream = st
        self._socks = socks
        self._ping_sent = 0
        self._last_tx = time.ticks_ms()

    def _on_broker_cert(self, _cert, depth):
        # mbedTLS calls this for each certificate of the broker's chain as it checks it; 0 keeps
        # its verdict. Depth 0: the broker's own certificate has arrived and been checked.
        if depth == 0:
            self._checked = True
        return 0

    async def _handshake(self, st):
        # The TLS handshake runs inside the first write/read: its errors are "tls" or "forbidden".
        try:
            st.write(connect_packet(self.client_id, self.KEEPALIVE_S))
            await st.drain()
            hdr = await st.read(1)
        except (OSError, ValueError) as e:
            raise from_tls(e, self._checked)
        if not hdr:
            # TLS completed but the broker hung up instead of answering: refused
            raise Fault("forbidden", "closed before CONNACK")
        body = await st.readexactly(3)
        if hdr[0] != _CONNACK or body[0] != 2:
            raise Fault("protocol", "expected CONNACK")
        if body[2]:
            raise from_connack(body[2])

    async def _read_packet(self):
        st = self._stream
        if st is None:
            raise Fault("closed")
        hdr = await st.read(1)
        if not hdr:
            raise Fault("closed", "eof")
        n = 0
        shift = 0
        while True:
            b = await st.readexactly(1)
            n |= (b[0] & 0x7F) << shift
            if not b[0] & 0x80:
                break
            shift += 7
            if shift > 21:
                raise Fault("protocol", "remaining length")
        if n > _MAX_PACKET:
            raise Fault("protocol", "packet too large")
        body = await st.readexactly(n) if n else b""
        return hdr[0], body

    async def _dispatch(self, hdr, body):
        kind = hdr & 0xF0
        if kind == _PUBLISH:
            topic, payload, qos, pid, _ = parse_publish(hdr & 0x0F, body)
            if qos:
                await self._send(puback_packet(pid))
            name = topic.decode()
            for topic_filter, route in self._routes.items():
                if topic_matches(topic_filter, name):
                    try:
                        route[0](topic, payload)
                    except Exception as e:  # a handler bug must not drop the connection
                        import events

                        events.error("mqtt_handler", "%s: %s" % (type(e).__name__, e))
        elif kind == _PUBACK:
            e = self._pending.get(struct.unpack_from("!H", body, 0)[0])
            if e:
                e[1].set()
        elif kind == _SUBACK or kind == _UNSUBACK:
            w = self._waits.get(struct.unpack_from("!H", body, 0)[0])
            if w:
                if kind == _SUBACK and body[2:3] == b"\x80":
                    w[1] = Fault("forbidden", "SUBACK failure")
                w[0].set()
        elif hdr == _PINGRESP:
            self._ping_sent = 0

    async def _reader(self):
        while True:
            hdr, body = await self._read_packet()
            await self._dispatch(hdr, body)

    async def _pinger(self, reader):
        # PINGREQ when nothing was sent for 3/4 of the keep-alive; no PINGRESP in time ends
        # the session (the reader is cancelled; session() reports "timeout").
        period = self.KEEPALIVE_S * 1000 * 3 // 4
        while True:
            await asyncio.sleep_ms(100)
            now = time.ticks_ms()
            if self._ping_sent:
                if time.ticks_diff(now, self._ping_sent) > self.PING_TIMEOUT_MS:
                    self._fail = Fault("timeout", "no PINGRESP")
                    reader.cancel()
                    return
            elif time.ticks_diff(now, self._last_tx) >= period:
                try:
                    await self._send(PINGREQ)
                except (OSError, Fault):
                    pass  # the reader sees the broken connection
                self._ping_sent = time.ticks_ms() or 1

    async def _renew(self):
        # on each new session: the routes' subscriptions first, then unacknowledged publishes
        # (DUP if sent before)
        st = self._stream
        for topic_filter, route in self._routes.items():
            st.write(subscribe_packet(self._next_pid(), topic_filter, route[1]))  # type: ignore
        for pid in sorted(self._pending):
            e = self._pending[pid]
            pkt = e[0]
            st.write((bytes((pkt[0] | 0x08,)) + pkt[1:]) if e[2] else pkt)  # type: ignore
            e[2] = True
            # a publish sent again is a request too: closed unanswered, it was refused
            self._last_request = time.ticks_ms()
        await st.drain()  # type: ignore
        self._last_tx = time.ticks_ms()

    def _close(self, err):
        self._stream = None
        self.connected.clear()
        _close_all(self._socks)
        self._socks = []
        for w in self._waits.values():
            w[1] = err
            w[0].set()

    async def session(self):
        # One connection: connect, renew, serve until it breaks. Raises Fault.
        try:
            await self.connect()
        except MemoryError:
            self.starved = True
            raise
        self._fail = None
        pinger = None
        reset = False
        try:
            await self._renew()
            self.connected.set()
            self.failures = 0
            self.starved = False
            for up in self.on_up:
                up()
            reader = asyncio.create_task(self._reader())
            pinger = asyncio.create_task(self._pinger(reader))
            await reader
            err = Fault("closed")
        except asyncio.CancelledError:
            if self._fail is None:
                self._close(Fault("closed", "cancelled"))
                raise
            err = self._fail
        except Exception as e:
            err = e if isinstance(e, Fault) else Fault("closed", str(e))
            self.starved = isinstance(e, MemoryError)
            # a reset counts as the broker's close: a server that closes with unread bytes
            # waiting (e.g. a PINGREQ after the refused PUBLISH) sends RST, not FIN
            reset = isinstance(e, OSError)
        finally:
            if pinger:
                pinger.cancel()
        if reset or err.detail == "eof":
            err = self._refusal() or err
        self._close(err)
        raise err

    def _refusal(self):
        # The broker closed the connection (EOF or reset). Right after an unanswered SUBSCRIBE: its
        # refusal (route() must answer now). Right after an unanswered PUBLISH: AWS IoT's refusal,
        # or a close for another reason (a restart) that happened to follow it; one close cannot
        # tell them apart, so only the same message closed so a second time is a refusal (each
        # session sends the unanswered ones again, _renew). -> a Fault, or None
        if time.ticks_diff(time.ticks_ms(), self._last_request) >= _REFUSAL_WINDOW_MS:
            return None
        if self._waits:
            return Fault("forbidden", "closed after a subscribe, no SUBACK")
        most = 0
        for e in self._pending.values():
            if e[2] and not e[1].is_set():
                e[3] += 1
                most = max(most, e[3])
        if most > 1:
            return Fault("forbidden", "closed twice after the same publish, no PUBACK")
        if most:
            return Fault("closed", "closed after a publish, no PUBACK")
        return None
