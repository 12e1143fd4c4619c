# Tiny asyncio HTTP/1.1 server for the configuration page. One request per connection
# ("Connection: close"). Every connection runs in its own task under one deadline, reads are
# bounded (head and body), so a slow, huge or malformed client gets an error status and cannot
# stall or exhaust the board for the others.
import asyncio

MAX_HEAD = 2048
LINGER_BYTES = 8192
LINGER_MS = 300
REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}


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
        self.body = body


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


def response(status, ctype, body):
    return (
        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n"
        "Cache-Control: no-store\r\n\r\n"
        % (status, REASONS.get(status, "Error"), ctype, len(body))
    ).encode() + body


class Server:
    # handler(Request) -> (status, content type, body bytes[, after]) ; after() runs once the
    # response is written (e.g. leave config mode after the confirmation page went out)
    def __init__(self, handler, max_body=16384, timeout_ms=10000, max_conns=4):
        self.handler = handler
        self.max_body = max_body
        self.timeout_ms = timeout_ms
        self.max_conns = max_conns
        self.active = 0
        self._srv = None

    async def start(self, host, port):
        self._srv = await asyncio.start_server(self._serve, host, port)

    def close(self):
        if self._srv:
            self._srv.close()
            self._srv = None

    async def _read(self, reader):
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
            buf += chunk
        if i > MAX_HEAD:
            raise HttpError(431, "request head too large")
        method, path, headers = parse_head(buf[:i])
        body = buf[i + 4 :]
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
        if len(body) > n:
            raise HttpError(400, "more data than Content-Length")
        if len(body) < n:
            body += await reader.readexactly(n - len(body))
        return Request(method, path, headers, body)

    async def _linger(self, reader):
        # After an error the client may still be sending; closing with unread input would reset
        # the connection and lose the response. Read a little more (bounded) before closing.
        left = LINGER_BYTES
        try:
            while left > 0:
                chunk = await asyncio.wait_for_ms(reader.read(512), LINGER_MS)
                if not chunk:
                    return
                left -= len(chunk)
        except Exception:
            pass

    async def _serve(self, reader, writer):
        self.active += 1
        after = None
        try:
            if self.active > self.max_conns:
                out = response(503, "text/plain", b"busy, try again\n")
            else:
                try:
                    req = await asyncio.wait_for_ms(self._read(reader), self.timeout_ms)
                    result = self.handler(req)
                    if len(result) > 3:
                        after = result[3]
                    out = response(result[0], result[1], result[2])
                except HttpError as e:
                    out = response(e.status, "text/plain", e.msg.encode() + b"\n")
                except asyncio.TimeoutError:
                    out = response(408, "text/plain", b"request took too long\n")
                except EOFError:
                    out = response(400, "text/plain", b"connection closed mid-request\n")
                except Exception as e:  # a handler bug: answer, keep serving; no details out
                    out = response(500, "text/plain", b"internal error\n")
                    _report(e)
            writer.write(out)
            await asyncio.wait_for_ms(writer.drain(), self.timeout_ms)
            if out[9:10] != b"2":
                await self._linger(reader)
        except Exception:
            pass  # the client went away; nothing to tell it
        finally:
            self.active -= 1
            try:
                writer.close()
                await writer.wait_closed()
            except Exception:
                pass
        if after:
            after()


def _report(e):
    try:
        import events

        events.error("http", type(e).__name__)
    except ImportError:
        pass
