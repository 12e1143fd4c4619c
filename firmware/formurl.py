# application/x-www-form-urlencoded bodies for form.parse (see there), streamed: name=value&...
# with %-escapes and '+' decoded. Its own module: a browser's upload (multipart) never loads it.
from form import BLOCK, MAX_NAME, FormError, open_field


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


async def parse(src, sink):
    # name=value&name=value, %-escapes and '+' decoded; an escape cut by a block's end waits
    # for the next block
    names = []
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
                        open_field(sink, names, unquote(name))
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
                open_field(sink, names, unquote(name))
                open_ = True
            if open_:
                sink.close()
            return
