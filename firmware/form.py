# HTML form bodies, streamed: application/x-www-form-urlencoded and multipart/form-data (file
# uploads) are read from the request in blocks of BLOCK bytes and handed to a sink field by field
# (sink.open(name), sink.write(bytes) any number of times, sink.close()), so no buffer grows with
# the upload. Hostile input raises FormError with a short reason, never the data itself.
MAX_FIELDS = 16
MAX_NAME = 256  # a field name as sent (%-escaped); a part's headers get MAX_PART_HEAD
MAX_PART_HEAD = 1024
BLOCK = 128


class FormError(ValueError):
    pass


def _unhex(c):
    if 48 <= c <= 57:
        return c - 48
    c |= 0x20
    if 97 <= c <= 102:
        return c - 87
    raise FormError("bad %-escape")


def unquote(b):
    # percent-decoding with '+' as space (bytes in, bytes out)
    out = bytearray()
    i = 0
    n = len(b)
    while i < n:
        c = b[i]
        if c == 43:  # '+'
            out.append(32)
        elif c == 37:  # '%'
            if i + 2 >= n:
                raise FormError("bad %-escape")
            out.append(_unhex(b[i + 1]) << 4 | _unhex(b[i + 2]))
            i += 2
        else:
            out.append(c)
        i += 1
    return bytes(out)


def _params(value):
    # "type; a=1; b=\"x;y\"" -> [(a, 1), (b, x;y)], honouring quoted strings
    out = []
    parts = []
    cur = ""
    quoted = False
    for c in value:
        if c == '"':
            quoted = not quoted
        if c == ";" and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += c
    parts.append(cur)
    for p in parts[1:]:
        k, _, v = p.strip().partition("=")
        v = v.strip()
        if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
            v = v[1:-1]
        out.append((k.strip().lower(), v))
    return out


def header_param(value, key):
    # a parameter of a header value: header_param('multipart/form-data; boundary=x', 'boundary')
    for k, v in _params(value):
        if k == key:
            return v
    return None


class _Fields:
    # the sink, with the field count and the names checked
    def __init__(self, sink):
        self.sink = sink
        self.names = []

    def open(self, name):
        try:
            name = name.decode()
        except UnicodeError:
            raise FormError("bad field name")
        if name not in self.names:
            if len(self.names) >= MAX_FIELDS:
                raise FormError("too many fields")
            self.names.append(name)
        self.sink.open(name)


async def _urlencoded(src, fields):
    # name=value&name=value, %-escapes and '+' decoded; an escape cut by a block's end waits
    # for the next block
    sink = fields.sink
    name = b""  # the name read so far, while `open` is False
    open_ = False
    buf = b""
    while True:
        chunk = await src.read(BLOCK)
        buf += chunk
        cut = len(buf)
        if chunk:
            p = buf.find(b"%", max(0, cut - 2))
            if p >= 0:
                cut = p
        i = 0
        while i < cut:
            amp = buf.find(b"&", i, cut)
            stop = cut if amp < 0 else amp
            if not open_:
                eq = buf.find(b"=", i, stop)
                name += buf[i : stop if eq < 0 else eq]
                if len(name) > MAX_NAME:
                    raise FormError("field name too long")
                if eq >= 0 or amp >= 0:
                    if name or eq >= 0:
                        fields.open(unquote(name))
                        open_ = True
                    name = b""
                i = stop if eq < 0 else eq + 1
                if eq >= 0:
                    continue
            else:
                sink.write(unquote(buf[i:stop]))
                i = stop
            if amp >= 0:
                if open_:
                    sink.close()
                open_ = False
                i = amp + 1
        buf = buf[cut:]
        if not chunk:
            if buf:
                raise FormError("bad %-escape")
            if name:
                fields.open(unquote(name))
                open_ = True
            if open_:
                sink.close()
            return


async def _more(src, buf, why):
    chunk = await src.read(BLOCK)
    if not chunk:
        raise FormError(why)
    return buf + chunk


async def _multipart(src, boundary, fields):
    if not boundary or len(boundary) > 70:
        raise FormError("bad multipart boundary")
    sink = fields.sink
    delim = b"\r\n--" + boundary.encode()
    keep = len(delim) + 1  # a delimiter (and the byte after it) may be cut by a block's end
    buf = b"\r\n"  # so the first delimiter looks like all the others
    while True:  # the preamble, up to the first delimiter
        i = buf.find(delim)
        if i >= 0:
            buf = buf[i + len(delim) :]
            break
        buf = buf[-keep:]
        buf = await _more(src, buf, "multipart boundary not found")
    while True:  # after a delimiter: "--" ends the form, CRLF starts a part
        while len(buf) < 2:
            buf = await _more(src, buf, "truncated multipart")
        if buf[:2] == b"--":
            return  # the epilogue is not read
        if buf[:2] != b"\r\n":
            raise FormError("malformed multipart")
        while True:
            head_end = buf.find(b"\r\n\r\n", 2)
            if head_end >= 0:
                break
            if len(buf) > MAX_PART_HEAD:
                raise FormError("multipart headers too large")
            buf = await _more(src, buf, "truncated multipart headers")
        name = None
        for line in buf[2:head_end].split(b"\r\n"):
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-disposition":
                try:
                    name = header_param(v.decode(), "name")
                except UnicodeError:
                    raise FormError("bad multipart headers")
        if name is None:
            raise FormError("multipart part without a name")
        fields.open(name.encode())
        buf = buf[head_end + 4 :]
        while True:  # the part's content, streamed until the next delimiter
            i = buf.find(delim)
            if i >= 0:
                sink.write(buf[:i])
                sink.close()
                buf = buf[i + len(delim) :]
                break
            if len(buf) > keep:
                sink.write(buf[:-keep])
                buf = buf[-keep:]
            buf = await _more(src, buf, "truncated multipart body")


async def parse(content_type, src, sink):
    # src.read(n) -> up to n bytes of the body, b"" at its end
    ct = (content_type or "").lower()
    if ct.startswith("application/x-www-form-urlencoded"):
        return await _urlencoded(src, _Fields(sink))
    if ct.startswith("multipart/form-data"):
        return await _multipart(src, header_param(content_type, "boundary"), _Fields(sink))
    raise FormError("unsupported form encoding")
