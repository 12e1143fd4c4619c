# PEM -> DER on the device (mbedTLS builds without a PEM parser take DER only), decoded as the
# upload streams in. The cheap structural checks of the DER (a certificate looks like one, a key
# is a supported unencrypted key carrying its public part, and that matches the certificate's)
# are in der.py: the setup page loads them only once the form is read (docs/esp32-differences.md
# "Memory"). Errors name the field, never its contents.
from binascii import a2b_base64

CERT_LABELS = ("CERTIFICATE",)
KEY_LABELS = ("PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY")
MAX_DER = 8192


class PemError(ValueError):
    pass


class Decoder:
    # PEM text (one block with one of `labels`) or DER bytes, fed in pieces of any size -> DER
    # written to `out` as it is decoded, so no buffer grows with the upload. PemError at the first
    # sign of trouble (write) or at the end (close); `size` counts the DER bytes written.
    def __init__(self, labels, out):
        self.labels = labels
        self.out = out
        self.state = _START
        self.buf = b""  # bytes not decided yet: at most a PEM line's worth
        self.b64 = b""  # base64 characters waiting for a full group of four
        self.end = b""  # the END line this block must close with
        self.bad = False  # a non-base64 byte: said at close(), after a missing END line
        self.size = 0

    def _emit(self, der):
        self.size += len(der)
        if self.size > MAX_DER:
            raise PemError("too large")
        self.out.write(der)

    def write(self, data):
        buf = self.buf + data
        self.buf = b""
        if self.state == _START:
            if not buf:
                return
            # DER starts with a SEQUENCE ('0' in ASCII: no PEM file starts so)
            self.state = _DER if buf[0] == 0x30 else _BEFORE
        if self.state == _DER:
            self._emit(buf)
        elif self.state == _BEFORE:
            i = buf.find(b"-----BEGIN ")
            if i < 0:
                self.buf = buf[-10:]  # the marker may be cut by this piece's end
                return
            self.state = _LABEL
            self.write(buf[i + 11 :])
        elif self.state == _LABEL:
            j = buf.find(b"-----")
            if j < 0:
                if len(buf) > 64:
                    raise PemError("bad PEM header")
                self.buf = buf
                return
            try:
                label = buf[:j].decode()
            except UnicodeError:
                raise PemError("bad PEM header")
            if label == "ENCRYPTED PRIVATE KEY":
                raise PemError("encrypted keys are not supported")
            if label not in self.labels:
                raise PemError("expected " + " or ".join(self.labels))
            self.end = b"-----END " + buf[:j] + b"-----"
            self.state = _BODY
            self.write(buf[j + 5 :])
        elif self.state == _BODY:
            i = buf.find(b"-----")
            cut = len(buf) - 4 if i < 0 else i  # (the END line's dashes may be cut)
            if cut > 0:
                text = buf[:cut]
                if b":" in text:  # RFC 1421 headers (Proc-Type: 4,ENCRYPTED ...)
                    raise PemError("encrypted keys are not supported")
                self._base64(text)
            if i < 0:
                self.buf = buf[max(cut, 0) :]
            else:
                self.state = _END
                self.write(buf[i:])
        elif self.state == _END:
            if len(buf) < len(self.end):
                self.buf = buf
            elif buf[: len(self.end)] != self.end:
                raise PemError("PEM END line missing")
            else:
                self.state = _DONE  # what follows the block is ignored

    def _base64(self, text):
        if self.bad:
            return
        text = self.b64 + b"".join(text.split())  # line breaks and blanks out: fewer copies
        n = len(text) & ~3
        self.b64 = text[n:]
        if n:
            group = text[:n]
            try:
                der = a2b_base64(group)
            except ValueError:  # (binascii.Error is one) not MemoryError: that is no bad input
                der = b""
            # a2b_base64 skips bytes outside the alphabet: a short result means there were some
            if len(der) != n // 4 * 3 - group[-2:].count(b"="):
                self.bad = True
            else:
                self._emit(der)

    def close(self):
        # PemError unless a whole PEM block (or DER) came
        if self.state in (_START, _BEFORE):
            raise PemError("neither PEM nor DER")
        if self.state == _LABEL:
            raise PemError("bad PEM header")
        if self.state != _DER and self.state != _DONE:
            raise PemError("PEM END line missing")
        if self.bad or self.b64:
            raise PemError("bad base64 in PEM")


_START, _DER, _BEFORE, _LABEL, _BODY, _END, _DONE = range(7)
