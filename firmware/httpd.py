# Tiny asyncio HTTP/1.1 server for the configuration page. One request per connection
# ("Connection: close"). What a phone and a hostile client can do is bounded:
# - connections: at most `max_conns` at once. A new one pushes out the oldest connection that has
#   not sent a byte yet (browsers open spare ones); when every slot is mid-request it is answered
#   503 and closed within LINGER_MS, so a flood cannot pile up sockets (the chip has 10-16);
# - time: each connection has one deadline for its whole request (slow or silent clients get 408,
#   a silent one is just closed); one reaper task enforces it, no task per connection;
# - memory: the head is read in 512-byte pieces up to MAX_HEAD; a body is never held whole: the
#   handler reads it from the socket in small pieces (Body.read), one connection at a time;
#   responses may be streamed piece by piece (the page is not built in memory);
# - turned away (503) or answered early, a connection is closed only once what the client sent
#   was read (bounded): closing with unread input makes the TCP stack send a reset (Linux, and
#   lwIP's tcp_close_shutdown in src/core/tcp.c on the ESP32), and the client may lose the answer.
import asyncio
import time

MAX_HEAD = 2048
LINGER_BYTES = 8192
LINGER_MS = 300
PEEK_MS = 50  # how long a pushed-out connection is given to show it has a request
REAP_MS = 100
CHUNK = 1024  # a streamed body goes out in writes of about this size
# "<status> <reason>" a line each: one string costs less heap than a dict of them
REASONS = (
    "200 OK\n400 Bad Request\n404 Not Found\n405 Method Not Allowed\n408 Request Timeout\n"
    "411 Length Required\n413 Content Too Large\n431 Request Header Fields Too Large\n"
    "500 Internal Server Error\n501 Not Implemented\n503 Service Unavailable\n"
)
# a connection's phase (slot 2 of its record) and why it was cancelled (slot 3)
IDLE = 0  # nothing received yet: may be pushed out by a new connection
READING = 1
ANSWERING = 2
TIMED_OUT = 1
PUSHED_OUT = 2


class HttpError(Exception):
    def __init__(self, status, msg):
        super().__init__(status, msg)
        self.status = status
        self.msg = msg


class Request:
    def __init__(self, method, path, headers, body):
        self.method = method
        self.path = path
        self.headers = headers  # lower-case names -> str
        self.body = body  # a Body, read by the handler


class Body:
    # the request body, read from the socket as the handler asks for it
    def __init__(self, reader, start, n):
        self.reader = reader
        self.start = start  # what came with the head
        self.left = n

    async def read(self, size):
        # up to `size` bytes; b"" at the body's end; HttpError when the client hangs up early
        if self.left <= 0:
            return b""
        if self.start:
            piece = self.start[:size]
            self.start = self.start[size:]
        else:
            piece = await self.reader.read(min(size, self.left))
            if not piece:
                raise HttpError(400, "connection closed mid-request")
        self.left -= len(piece)
        return piece

    async def drain(self):
        # read what the handler left (a multipart epilogue, the rest of a refused form): closing
        # with it unread would reset the connection
        while self.left > 0:
            await self.read(512)


def parse_head(head):
    # b"GET / HTTP/1.1\r\nHost: x\r\n..." -> (method, path, headers)
    try:
        text = head.decode()
    except UnicodeError:
        raise HttpError(400, "request head is not UTF-8")
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[1].startswith("/"):
        raise HttpError(400, "malformed request line")
    headers = {}
    for line in lines[1:]:
        if not line:
            continue
        k, sep, v = line.partition(":")
        if not sep or not k or k != k.strip():
            raise HttpError(400, "malformed header")
        headers[k.lower()] = v.strip()
    return parts[0], parts[1].split("?")[0], headers


def head(status, ctype, length=None):
    # the response head; without a length the body ends when the connection closes
    return (
        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n%sConnection: close\r\n"
        "Cache-Control: no-store\r\n\r\n"
        % (
            status,
            _reason(status),
            ctype,
            "" if length is None else "Content-Length: %d\r\n" % length,
        )
    ).encode()


def _reason(status):
    i = REASONS.find("%d " % status)
    return REASONS[i + 4 : REASONS.find("\n", i)] if i >= 0 else "Error"


def response(status, ctype, body):
    return head(status, ctype, len(body)) + body


class Server:
    # async handler(Request) -> (status, content type, body[, after]); body is bytes, or a tuple/
    # list/generator of bytes and str pieces written one by one. after() runs once the response
    # is written (e.g. leave config mode after the confirmation page went out). A request body is
    # read by the handler (req.body.read) while it holds the body lock: one upload at a time.
    def __init__(self, handler, max_body=16384, timeout_ms=10000, max_conns=4):
        self.handler = handler
        self.max_body = max_body
        self.timeout_ms = timeout_ms
        self.max_conns = max_conns
        self.conns = []  # [task, deadline (ticks_ms), phase, why cancelled] per connection
        self._body = asyncio.Lock()  # one request body being read (and stored) at a time
        self._srv = None
        self._reaper = None

    async def start(self, host, port):
        self._srv = await asyncio.start_server(self._serve, host, port)
        self._reaper = asyncio.create_task(self._reap())

    def close(self):
        if self._srv:
            self._srv.close()
            self._srv = None
        if self._reaper:
            self._reaper.cancel()
            self._reaper = None
        for c in self.conns:
            self._cancel(c, PUSHED_OUT)

    def _cancel(self, conn, why):
        if not conn[3]:
            conn[3] = why
            conn[0].cancel()

    async def _reap(self):
        while True:
            await asyncio.sleep_ms(REAP_MS)
            now = time.ticks_ms()
            for c in self.conns:
                if time.ticks_diff(now, c[1]) >= 0:
                    self._cancel(c, TIMED_OUT)

    def _make_room(self):
        # -> whether a new connection may be served: a free slot, or one freed by pushing out the
        # oldest connection that has not sent anything
        if len(self.conns) < self.max_conns:
            return True
        for c in self.conns:
            if c[2] == IDLE and not c[3]:
                self._cancel(c, PUSHED_OUT)
                return True
        return False

    async def _read_head(self, reader, conn):
        # -> the Request, its body (if any) still to be read
        buf = b""
        while True:
            i = buf.find(b"\r\n\r\n")
            if i >= 0:
                break
            if len(buf) > MAX_HEAD:
                raise HttpError(431, "request head too large")
            chunk = await reader.read(512)
            if not chunk:
                raise HttpError(400, "connection closed mid-request")
            conn[2] = READING
            buf += chunk
        if i > MAX_HEAD:
            raise HttpError(431, "request head too large")
        method, path, headers = parse_head(buf[:i])
        if "transfer-encoding" in headers:
            raise HttpError(501, "chunked bodies are not supported")
        length = headers.get("content-length")
        if length is None:
            if method == "POST":
                raise HttpError(411, "Content-Length required")
            length = "0"
        if not length.isdigit():
            raise HttpError(400, "bad Content-Length")
        n = int(length)
        if n > self.max_body:
            raise HttpError(413, "request body larger than %d bytes" % self.max_body)
        if len(buf) - i - 4 > n:
            raise HttpError(400, "more data than Content-Length")
        return Request(method, path, headers, Body(reader, buf[i + 4 :], n))

    async def _serve(self, reader, writer):
        if not self._make_room():
            await _turn_away(reader, writer)
            await _close(writer)
            return
        conn = [asyncio.current_task(), time.ticks_add(time.ticks_ms(), self.timeout_ms), IDLE, 0]
        self.conns.append(conn)
        after = None
        try:
            try:
                req = await self._read_head(reader, conn)
                if req.body.left:
                    async with self._body:  # one body at a time: others wait here
                        result = await self.handler(req)
                        await req.body.drain()
                else:
                    conn[2] = ANSWERING
                    result = await self.handler(req)
                req = None
                status, ctype, body = result[0], result[1], result[2]
                if len(result) > 3:
                    after = result[3]
                result = None
            except HttpError as e:
                status, ctype, body = e.status, "text/plain", e.msg.encode() + b"\n"
            except asyncio.CancelledError:
                if conn[3] == PUSHED_OUT and conn[2] == IDLE:
                    # pushed out before its task read anything: a spare connection is closed
                    # unanswered, one whose request is already here is turned away (503)
                    self.conns.remove(conn)  # its slot is the newcomer's already
                    if await _peek(reader):
                        await _turn_away(reader, writer)
                    return
                if conn[3] == PUSHED_OUT or conn[2] == IDLE:
                    return  # server closing, or silent until its deadline: nothing to answer
                status, ctype, body = 408, "text/plain", b"request took too long\n"
            except Exception as e:  # a handler bug: answer, keep serving; no details out
                status, ctype, body = 500, "text/plain", b"internal error\n"
                _report(e)
            # the answer gets a deadline of its own (a client that does not read is dropped)
            conn[1] = time.ticks_add(time.ticks_ms(), self.timeout_ms)
            conn[2] = ANSWERING
            conn[3] = 0
            await _write(writer, status, ctype, body)
            body = None
            if status >= 300:
                await _linger(reader)
        except BaseException:  # noqa: BLE001  (gone or cancelled: nothing to tell the client)
            pass
        finally:
            if conn in self.conns:
                self.conns.remove(conn)
            await _close(writer)
        if after:
            after()


async def _linger(reader):
    # After an answer the client may still be sending; closing with unread input would reset
    # the connection and lose the response. Read a little more (bounded) before closing: until
    # the client closes (it does once it has the answer: "Connection: close") or briefly stays
    # silent.
    left = LINGER_BYTES
    until = time.ticks_add(time.ticks_ms(), LINGER_MS)
    while left > 0 and time.ticks_diff(until, time.ticks_ms()) > 0:
        try:
            chunk = await asyncio.wait_for_ms(reader.read(512), LINGER_MS)
        except Exception:
            return
        if not chunk:
            return
        left -= len(chunk)


async def _write(writer, status, ctype, body):
    # a bytes body in one write; pieces gathered into writes of about CHUNK bytes
    if isinstance(body, (bytes, bytearray)):
        writer.write(response(status, ctype, body))
        await writer.drain()
        return
    out = [head(status, ctype)]
    size = len(out[0])
    for piece in body:
        piece = piece.encode() if isinstance(piece, str) else piece
        out.append(piece)
        size += len(piece)
        if size >= CHUNK:
            writer.write(b"".join(out))
            await writer.drain()
            out = []
            size = 0
    if out:
        writer.write(b"".join(out))
        await writer.drain()


async def _turn_away(reader, writer):
    # every slot is mid-request: a short 503 at once, then what the client sent is read (bounded
    # by LINGER_BYTES and LINGER_MS, the same as after an error) so that closing sends a FIN, not
    # a reset that could destroy the 503 before the client read it
    try:
        writer.write(response(503, "text/plain", b"busy, try again\n"))
        await writer.drain()
        await _linger(reader)
    except Exception:
        pass


async def _peek(reader):
    # -> whether the client sent something within PEEK_MS (what came is dropped)
    try:
        return bool(await asyncio.wait_for_ms(reader.read(512), PEEK_MS))
    except Exception:
        return False


async def _close(writer):
    try:
        writer.close()
        await writer.wait_closed()  # (MicroPython's close() is a no-op: this closes the socket)
    except BaseException:  # noqa: BLE001
        pass


def _report(e):
    try:
        import events

        events.error("http", type(e).__name__)
    except ImportError:
        pass
