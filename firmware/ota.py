# OTA of the application bundle (docs/contracts.md "OTA job document", "A/B application
# folders"): download over HTTPS into `ota.part` (resumed with Range after a reset), check size
# and SHA-256 before anything is installed, unpack the ustar archive into the application folder
# that is not running, then switch the pointer `fw.json` (one atomic store write) to it on trial.
# main.py runs the folder the pointer names; on trial the new firmware must report healthy
# (jobop_ota: an accepted job update, then confirm()) within TRIAL_BOOTS boots, each within the
# trial seconds, or main.py brings the previous folder back. Imported only while an ota job runs.
# Memory: one BLOCK-sized buffer for the download, the checksum and the unpack; nothing of the
# bundle is held in RAM. Flash: the bundle (ota.part) and two application folders.
import asyncio
import os

import store

POINTER = "fw.json"
PART = "ota.part"
PART_INFO = "ota.json"  # which download ota.part holds: {"url", "sha256", "size"}
FOLDERS = ("app_a", "app_b")
TRIAL_BOOTS = 2
TRIAL_S = 120  # default seconds a trial boot has to report healthy
BLOCK = 512  # ustar's block; also the download and checksum buffer
READ_MS = 15000  # no byte of the download this long: the connection is given up


class OtaError(Exception):
    pass


def pointer():
    try:
        return store.read_json(POINTER) or {}
    except ValueError:
        return {}


def running():
    # the application folder this boot runs ("" = the firmware on the root / frozen)
    return pointer().get("run", "")


def inactive():
    return FOLDERS[1] if running() == FOLDERS[0] else FOLDERS[0]


def _size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return -1


def _split_url(url):
    # https://host[:port]/path -> (host, port, path)
    if not url.startswith("https://"):
        raise OtaError("url must be https://")
    rest = url[8:]
    i = rest.find("/")
    hostport, path = (rest, "/") if i < 0 else (rest[:i], rest[i:])
    host, _, port = hostport.partition(":")
    return host, int(port) if port else 443, path


def tls_context(ca):
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cadata=ca)
    ctx.verify_mode = ssl.CERT_REQUIRED  # MicroPython defaults to CERT_NONE
    return ctx


def prepare(doc):
    # keep ota.part only if it is (the start of) this very bundle; -> bytes already there
    info = {"url": doc["url"], "sha256": doc["sha256"], "size": doc["size"]}
    try:
        same = store.read_json(PART_INFO) == info
    except ValueError:
        same = False
    if not same:
        store.remove(PART)
        store.write_json(PART_INFO, info)
    return max(0, _size(PART))


async def download(doc, ca, report=None):
    # Fetch the rest of the bundle into ota.part (Range from what it holds); report(got) now and
    # then. Raises OtaError, or an OSError / fault.Fault of the connection.
    size = doc["size"]
    got = prepare(doc)
    if got > size:
        store.remove(PART)
        got = prepare(doc)
    if got == size:
        return
    f = open(PART, "ab")

    async def durable(n):
        f.flush()  # what a power cut keeps (LittleFS commits a file on flush / close)
        if report:
            await report(n)

    try:
        got = await fetch(doc["url"], ca, got, size, f.write, durable)
    except Restart:
        f.close()
        f = open(PART, "wb")  # the server sent the whole file: start again
        await fetch(doc["url"], ca, 0, size, f.write, durable)
    finally:
        f.close()


class Restart(Exception):
    # the server answered a range request with the whole file
    pass


async def fetch(url, ca, got, size, sink, report=None):
    # GET `url` from byte `got` of `size` over TLS verified against `ca` (DER); sink(bytes) gets
    # the body in blocks of at most BLOCK bytes; report(got) about every quarter. -> size
    from mqtt import _close_all, open_tls

    host, port, path = _split_url(url)
    st, socks = await open_tls(host, port, tls_context(ca))
    try:
        req = "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n" % (path, host)
        if got:
            req += "Range: bytes=%d-\r\n" % got
        st.write(req.encode() + b"\r\n")
        await st.drain()
        line = await asyncio.wait_for_ms(st.readline(), READ_MS)
        status = line.split(b" ")
        code = int(status[1]) if len(status) > 1 and status[1].isdigit() else 0
        length = -1
        start = 0
        while True:
            h = await asyncio.wait_for_ms(st.readline(), READ_MS)
            if h in (b"\r\n", b"\n", b""):
                break
            k, _, v = h.partition(b":")
            k = k.strip().lower()
            if k == b"content-length":
                length = int(v)
            elif k == b"content-range":  # bytes a-b/size
                start = int(v.strip()[6:].split(b"-")[0])
        if code == 200 and got:
            raise Restart()
        if code not in (200, 206) or start != got:
            raise OtaError("HTTP %d" % code)
        if length < 0 or got + length != size:
            raise OtaError("size %d, not %d" % (got + (length if length > 0 else 0), size))
        step = max(size // 4, 1)
        mark = got + step
        while got < size:
            # read(n): at most n bytes, a small block each (the stream's readinto does not
            # retry a TLS read that wants more data, MicroPython extmod/asyncio/stream.py)
            data = await asyncio.wait_for_ms(st.read(min(BLOCK, size - got)), READ_MS)
            if not data:
                raise OtaError("connection closed at %d of %d" % (got, size))
            sink(data)
            got += len(data)
            data = None
            if report and got >= mark and got < size:
                mark = got + step
                await report(got)
        return got
    finally:
        _close_all(socks)


def verify(doc):
    # None when ota.part is the bundle the document describes, else why not
    from binascii import hexlify
    from hashlib import sha256

    if _size(PART) != doc["size"]:
        return "size %d, not %d" % (_size(PART), doc["size"])
    h = sha256()
    buf = bytearray(BLOCK)
    with open(PART, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(memoryview(buf)[:n])
    if hexlify(h.digest()).decode() != doc["sha256"]:
        return "sha256 mismatch"
    return None


def _clear(folder):
    try:
        names = os.listdir(folder)
    except OSError:
        os.mkdir(folder)
        return
    for n in names:
        os.remove(folder + "/" + n)


def unpack(folder):
    # ustar (rig/cloud/files/bundle.py): 512-byte headers, data padded to 512, flat names. main.py
    # stays on the root (it chooses the folder; it is never replaced by an OTA).
    _clear(folder)
    buf = bytearray(BLOCK)
    mv = memoryview(buf)
    files = 0
    with open(PART, "rb") as f:
        while True:
            if f.readinto(buf) != BLOCK:
                raise OtaError("truncated archive")
            if not any(buf):
                break  # the end-of-archive blocks
            name = bytes(buf[:100]).split(b"\0")[0].decode()
            size = int(bytes(buf[124:136]).split(b"\0")[0].strip() or b"0", 8)
            kind = buf[156]
            if kind not in (0, 0x30) or "/" in name or not name or name[0] == ".":
                raise OtaError("unexpected archive member " + name)
            keep = name != "main.py"
            out = open(folder + "/" + name, "wb") if keep else None
            try:
                left = size
                while left > 0:
                    if f.readinto(buf) != BLOCK:
                        raise OtaError("truncated archive")
                    if out:
                        out.write(mv[: min(BLOCK, left)])
                    left -= BLOCK
            finally:
                if out:
                    out.close()
            files += 1
    if not files:
        raise OtaError("empty archive")
    return files


def switch(folder, version, job_id, trial_s=TRIAL_S):
    # run `folder` from the next boot, on trial (main.py counts the boots down); one atomic write
    p = {"run": folder, "prev": running(), "trial": TRIAL_BOOTS, "secs": trial_s}
    p["ver"] = version
    p["job"] = job_id
    store.write_json(POINTER, p)
    store.remove(PART)  # installed: the flash it took is free again
    store.remove(PART_INFO)


def confirm():
    # the new firmware reported healthy: it stays
    p = pointer()
    if "trial" in p:
        store.write_json(POINTER, {"run": p.get("run", ""), "ver": p.get("ver")})
