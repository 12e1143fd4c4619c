# PEM -> DER on the device (mbedTLS builds without a PEM parser take DER only), with cheap
# structural checks: a certificate looks like one, a key is a supported unencrypted key, and the
# key's public part matches the certificate's. Errors name the field, never its contents.
from binascii import a2b_base64

CERT_LABELS = ("CERTIFICATE",)
KEY_LABELS = ("PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY")
MAX_DER = 8192


class PemError(ValueError):
    pass


def _tlv(buf, off, end):
    # One DER element at off: -> (tag, content start, content end)
    if off + 2 > end:
        raise PemError("truncated DER")
    tag = buf[off]
    n = buf[off + 1]
    off += 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 3 or off + k > end:
            raise PemError("bad DER length")
        n = 0
        for i in range(k):
            n = (n << 8) | buf[off + i]
        off += k
    if off + n > end:
        raise PemError("truncated DER")
    return tag, off, off + n


def _children(buf, start, end):
    out = []
    off = start
    while off < end:
        t, s, e = _tlv(buf, off, end)
        out.append((t, s, e))
        off = e
    return out


def _outer(der):
    if len(der) > MAX_DER:
        raise PemError("too large")
    t, s, e = _tlv(der, 0, len(der))
    if t != 0x30 or e != len(der):
        raise PemError("not a DER SEQUENCE")
    return _children(der, s, e)


def decode(data, labels):
    # PEM (one block with one of `labels`) or DER bytes -> (label or None, der bytes)
    data = bytes(data)
    i = data.find(b"-----BEGIN ")
    if i < 0:
        if data[:1] == b"\x30":
            return None, data
        raise PemError("neither PEM nor DER")
    j = data.find(b"-----", i + 11)
    if j < 0:
        raise PemError("bad PEM header")
    try:
        label = data[i + 11 : j].decode()
    except UnicodeError:
        raise PemError("bad PEM header")
    if label == "ENCRYPTED PRIVATE KEY":
        raise PemError("encrypted keys are not supported")
    if label not in labels:
        raise PemError("expected " + " or ".join(labels))
    end = data.find(b"-----END " + label.encode() + b"-----", j)
    if end < 0:
        raise PemError("PEM END line missing")
    if data.find(b":", j + 5, end) >= 0:  # RFC 1421 headers (Proc-Type: 4,ENCRYPTED ...)
        raise PemError("encrypted keys are not supported")
    try:
        # a2b_base64 skips the line breaks itself: no list of the lines, no joined copy
        der = a2b_base64(data[j + 5 : end])
    except ValueError:  # (binascii.Error is one) not MemoryError: that is no bad input
        raise PemError("bad base64 in PEM")
    return label, der


def certificate(data):
    # -> DER of a certificate (SEQUENCE of tbs SEQUENCE, algorithm SEQUENCE, BIT STRING)
    _, der = decode(data, CERT_LABELS)
    parts = _outer(der)
    if len(parts) != 3 or parts[0][0] != 0x30 or parts[1][0] != 0x30 or parts[2][0] != 0x03:
        raise PemError("not an X.509 certificate")
    cert_public_key(der)  # its public key must be readable too
    return der


def private_key(data):
    # -> DER of an unencrypted PKCS#8, SEC1 (EC) or PKCS#1 (RSA) private key
    _, der = decode(data, KEY_LABELS)
    parts = _outer(der)
    if len(parts) < 3 or parts[0][0] != 0x02:
        raise PemError("not a private key")
    key_public_part(der)  # its structure must be readable too
    return der


def _bitstring(der, t):
    # content of a BIT STRING without its unused-bits byte
    return bytes(der[t[1] + 1 : t[2]])


def cert_public_key(der):
    # the subjectPublicKey of a certificate: (kind, comparable bytes)
    tbs = _outer(der)[0]
    fields = _children(der, tbs[1], tbs[2])
    if fields and fields[0][0] == 0xA0:  # [0] version
        fields = fields[1:]
    if len(fields) < 6:
        raise PemError("not an X.509 certificate")
    spki = _children(der, fields[5][1], fields[5][2])
    if len(spki) != 2 or spki[1][0] != 0x03:
        raise PemError("not an X.509 certificate")
    bits = _bitstring(der, spki[1])
    if bits[:1] == b"\x30":  # RSAPublicKey SEQUENCE { modulus, exponent }
        rsa = _outer(bits)
        if len(rsa) != 2 or rsa[0][0] != 0x02:
            raise PemError("not an X.509 certificate")
        return "rsa", _int(bits, rsa[0])
    return "ec", bits


def _int(buf, t):
    v = bytes(buf[t[1] : t[2]])
    while v[:1] == b"\x00" and len(v) > 1:
        v = v[1:]
    return v


def key_public_part(der):
    # (kind, comparable bytes) or None when the key does not carry its public part
    parts = _outer(der)
    if len(parts) < 2:
        raise PemError("not a private key")
    if len(parts) >= 3 and parts[1][0] == 0x30 and parts[2][0] == 0x04:  # PKCS#8
        inner = bytes(der[parts[2][1] : parts[2][2]])
        return key_public_part(inner)
    if parts[1][0] == 0x04:  # SEC1 ECPrivateKey: version, key, [0] params, [1] public key
        for t in parts[2:]:
            if t[0] == 0xA1:
                inner = _tlv(der, t[1], t[2])
                return "ec", _bitstring(der, inner)
        return None
    if parts[1][0] == 0x02:  # PKCS#1 RSAPrivateKey: version, modulus, ...
        return "rsa", _int(der, parts[1])
    raise PemError("not a private key")


def check_pair(cert_der, key_der):
    # PemError when the key does not belong to the certificate (if the key says so cheaply)
    pub = key_public_part(key_der)
    if pub is not None and pub != cert_public_key(cert_der):
        raise PemError("private key does not match the certificate")
