# Cheap structural checks of a certificate or private key as DER (pem.py decodes the upload into
# it): a certificate looks like one, a key is a supported unencrypted key carrying its public
# part, and that matches the certificate's. Errors (pem.PemError) name the problem, never the
# contents.
from hashlib import sha256

from pem import MAX_DER, PemError


class _Der:
    # the DER being checked: the staged file of an upload (read a few bytes at a time, never
    # whole: a key or certificate of any size costs no more memory) or bytes
    def __init__(self, src):
        self.src = src
        self.mem = isinstance(src, (bytes, bytearray))
        self.size = len(src) if self.mem else src.seek(0, 2)

    def get(self, start, end):
        if self.mem:
            return bytes(self.src[start:end])
        self.src.seek(start)
        return self.src.read(end - start)


def _der(src):
    return src if isinstance(src, _Der) else _Der(src)


def _tlv(d, off, end):
    # One DER element at off: -> (tag, content start, content end)
    h = d.get(off, min(off + 5, end))
    if len(h) < 2:
        raise PemError("truncated DER")
    n = h[1]
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 3 or 2 + k > len(h):
            raise PemError("bad DER length")
        n = 0
        for i in range(k):
            n = (n << 8) | h[2 + i]
        off += k
    off += 2
    if off + n > end:
        raise PemError("truncated DER")
    return h[0], off, off + n


def _children(d, start, end):
    out = []
    off = start
    while off < end:
        t, s, e = _tlv(d, off, end)
        out.append((t, s, e))
        off = e
    return out


def _outer(d, start=0, end=-1):
    # the elements of the SEQUENCE that spans d (or start..end of it)
    if end < 0:
        if d.size > MAX_DER:
            raise PemError("too large")
        end = d.size
    t, s, e = _tlv(d, start, end)
    if t != 0x30 or e != end:
        raise PemError("not a DER SEQUENCE")
    return _children(d, s, e)


def certificate(src):
    # -> the certificate's public key (see cert_public_key) once the DER (bytes or a file) looks
    # like a certificate (SEQUENCE of tbs SEQUENCE, algorithm SEQUENCE, BIT STRING)
    d = _der(src)
    parts = _outer(d)
    if len(parts) != 3 or parts[0][0] != 0x30 or parts[1][0] != 0x30 or parts[2][0] != 0x03:
        raise PemError("not an X.509 certificate")
    return cert_public_key(d)


def private_key(src):
    # -> the key's public part (see key_public_part) once the DER (bytes or a file) looks like an
    # unencrypted PKCS#8, SEC1 (EC) or PKCS#1 (RSA) private key
    d = _der(src)
    parts = _outer(d)
    if len(parts) < 3 or parts[0][0] != 0x02:
        raise PemError("not a private key")
    return key_public_part(d)


def _digest(d, start, end):
    # SHA-256 of bytes start..end of d (an integer's leading zeros skipped), read in small pieces:
    # the public part compared is 32 bytes whatever the key's size
    while start < end - 1 and d.get(start, start + 1) == b"\x00":
        start += 1
    h = sha256()
    while start < end:
        h.update(d.get(start, min(start + 64, end)))
        start += 64
    return h.digest()


def cert_public_key(src):
    # the subjectPublicKey of a certificate: (kind, digest of the EC point or RSA modulus)
    d = _der(src)
    tbs = _outer(d)[0]
    fields = _children(d, tbs[1], tbs[2])
    if fields and fields[0][0] == 0xA0:  # [0] version
        fields = fields[1:]
    if len(fields) < 6:
        raise PemError("not an X.509 certificate")
    spki = _children(d, fields[5][1], fields[5][2])
    if len(spki) != 2 or spki[1][0] != 0x03:
        raise PemError("not an X.509 certificate")
    start, end = spki[1][1] + 1, spki[1][2]  # the BIT STRING without its unused-bits byte
    if d.get(start, start + 1) == b"\x30":  # RSAPublicKey SEQUENCE { modulus, exponent }
        rsa = _outer(d, start, end)
        if len(rsa) != 2 or rsa[0][0] != 0x02:
            raise PemError("not an X.509 certificate")
        return "rsa", _digest(d, rsa[0][1], rsa[0][2])
    return "ec", _digest(d, start, end)


def key_public_part(src):
    # (kind, digest of the EC point or RSA modulus). A key must carry its public part: checking that a bare EC scalar
    # belongs to the certificate would take a curve multiplication the page does not do.
    d = _der(src)
    parts = _outer(d)
    if len(parts) < 2:
        raise PemError("not a private key")
    if len(parts) >= 3 and parts[1][0] == 0x30 and parts[2][0] == 0x04:  # PKCS#8
        # the key proper is in the OCTET STRING: SEC1 or PKCS#1, never PKCS#8 again (so a key
        # nested a thousand times is refused here, not by a recursion limit)
        parts = _outer(d, parts[2][1], parts[2][2])
    if len(parts) >= 2 and parts[1][0] == 0x04:  # SEC1: version, key, [0] params, [1] public
        for t in parts[2:]:
            if t[0] == 0xA1:
                t = _tlv(d, t[1], t[2])  # the BIT STRING; its unused-bits byte skipped
                return "ec", _digest(d, t[1] + 1, t[2])
        raise PemError("the key has no public part: export it with it (not openssl ec -no_public)")
    if len(parts) >= 2 and parts[1][0] == 0x02:  # PKCS#1 RSAPrivateKey: version, modulus, ...
        return "rsa", _digest(d, parts[1][1], parts[1][2])
    raise PemError("not a private key")


def check_pair(cert_pub, key_pub):
    # PemError when the key (its public part) does not belong to the certificate
    if key_pub != cert_pub:
        raise PemError("private key does not match the certificate")
