# HTML form bodies -> {name: bytes}: application/x-www-form-urlencoded and multipart/form-data
# (file uploads). Hostile input raises FormError with a short reason, never the data itself.
MAX_FIELDS = 16


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


def parse_urlencoded(body):
    fields = {}
    for part in bytes(body).split(b"&"):
        if not part:
            continue
        k, _, v = part.partition(b"=")
        _add(fields, unquote(k), unquote(v))
    return fields


def _add(fields, name, value):
    try:
        name = name.decode()
    except UnicodeError:
        raise FormError("bad field name")
    if len(fields) >= MAX_FIELDS and name not in fields:
        raise FormError("too many fields")
    fields[name] = value


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


def parse_multipart(body, boundary):
    if not boundary or len(boundary) > 70:
        raise FormError("bad multipart boundary")
    body = bytes(body)
    delim = b"--" + boundary.encode()
    fields = {}
    pos = body.find(delim)
    if pos < 0:
        raise FormError("multipart boundary not found")
    pos += len(delim)
    while True:
        if body[pos : pos + 2] == b"--":
            return fields  # closing delimiter
        if body[pos : pos + 2] != b"\r\n":
            raise FormError("malformed multipart")
        head_end = body.find(b"\r\n\r\n", pos + 2)
        if head_end < 0:
            raise FormError("truncated multipart headers")
        name = None
        for line in body[pos + 2 : head_end].split(b"\r\n"):
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-disposition":
                try:
                    name = header_param(v.decode(), "name")
                except UnicodeError:
                    raise FormError("bad multipart headers")
        if name is None:
            raise FormError("multipart part without a name")
        nxt = body.find(b"\r\n" + delim, head_end + 4)
        if nxt < 0:
            raise FormError("truncated multipart body")
        _add(fields, name.encode(), body[head_end + 4 : nxt])
        pos = nxt + 2 + len(delim)


def parse(content_type, body):
    ct = (content_type or "").lower()
    if ct.startswith("application/x-www-form-urlencoded"):
        return parse_urlencoded(body)
    if ct.startswith("multipart/form-data"):
        return parse_multipart(body, header_param(content_type, "boundary"))
    raise FormError("unsupported form encoding")
