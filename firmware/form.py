# HTML form bodies, streamed: application/x-www-form-urlencoded and multipart/form-data (file
# uploads) are read from the request in blocks of BLOCK bytes and handed to a sink field by field
# (sink.open(name), sink.write(bytes) any number of times, sink.close()), so no buffer grows with
# the upload. Hostile input raises FormError with a short reason, never the data itself. The
# urlencoded parser is in formurl.py, imported for such a body only.
MAX_FIELDS = 16
MAX_NAME = 256  # a field name as sent (%-escaped); a part's headers get MAX_PART_HEAD
MAX_PART_HEAD = 1024
BLOCK = 64  # small: each block's copies must fit the holes of a nearly full heap


class FormError(ValueError):
    pass


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


def open_field(sink, names, name):
    # sink.open(name) once the name (bytes as sent) is decoded and the field count checked;
    # `names`: the distinct names so far
    try:
        name = name.decode()
    except UnicodeError:
        raise FormError("bad field name")
    if name not in names:
        if len(names) >= MAX_FIELDS:
            raise FormError("too many fields")
        names.append(name)
    sink.open(name)


async def _more(src, buf, why):
    chunk = await src.read(BLOCK)
    if not chunk:
        raise FormError(why)
    return buf + chunk


async def _multipart(src, boundary, sink):
    if not boundary or len(boundary) > 70:
        raise FormError("bad multipart boundary")
    names = []
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
        open_field(sink, names, name.encode())
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
        import formurl  # only for this encoding: a browser sends a form with files as multipart

        return await formurl.parse(src, sink)
    if ct.startswith("multipart/form-data"):
        return await _multipart(src, header_param(content_type, "boundary"), sink)
    raise FormError("unsupported form encoding")
