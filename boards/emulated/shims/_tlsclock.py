# Makes the emulated board's TLS judge certificate dates by the board's clock, as on the chip.
#
# On the ESP32, mbedTLS checks every certificate's validity dates (CONFIG_MBEDTLS_HAVE_TIME_DATE
# in ports/esp32 boards/sdkconfig.base) against the RTC: time() in the 2000 epoch plus 946684800
# (ports/esp32 main.c). An RTC set 30 years ahead makes every certificate "expired"; an RTC never
# set (2000-01-01) makes every one "not yet valid". The unix port's mbedTLS checks the host's
# clock instead, so the board's own clock would never matter. Here the verify callback that
# mbedTLS calls for each certificate of the broker's chain (extmod/modtls_mbedtls.c
# ssl_sock_cert_verify) also checks the dates against the board's clock (the `time` shim) and
# fails the handshake the way mbedTLS does (MBEDTLS_ERR_X509_CERT_VERIFY_FAILED).
#
# It also models the handshake's cost on the chip: the certificate checks, the key exchange and
# the client's signature run inside one blocking C call (the read that brings the server's
# flight), during which no soft IRQ runs (_sched): BUTTONRIG_TLS_BLOCK_MS, default 1000 ms, the
# handshake time published for MicroPython on an ESP32 at 240 MHz (about 1 s; sources in
# docs/esp32-differences.md "Pin interrupts"), all of it counted as crypto.
import ssl
import time

import _sched
from micropython import const

_VERIFY_FAILED = const(-0x2700)  # MBEDTLS_ERR_X509_CERT_VERIFY_FAILED
_BLOCK_MS = _sched.figure("BUTTONRIG_TLS_BLOCK_MS", 1000)


def validity(der):
    """(notBefore, notAfter) of a DER certificate, in Unix seconds."""
    # One walk over the DER elements (one function, not one per step: each stays on the heap):
    # E enters an element, V skips the [0] version if there, S skips, T reads a time. Certificate,
    # TBSCertificate, version, serial number, signature algorithm, issuer, Validity, its times.
    out = []
    i = 0
    for op in "EEVSSSETT":
        tag = der[i]
        n = der[i + 1]
        s = i + 2
        if n & 0x80:
            n, s = int.from_bytes(bytes(der[s : s + (n & 0x7F)]), "big"), s + (n & 0x7F)
        if op == "E":
            i = s
        elif op != "V" or tag == 0xA0:
            i = s + n
        if op == "T":
            # UTCTime (0x17) YYMMDDHHMMSSZ or GeneralizedTime (0x18) YYYYMMDDHHMMSSZ
            t = bytes(der[s:i]).decode()
            if tag == 0x17:
                y = int(t[0:2])
                y += 2000 if y < 50 else 1900
                t = t[2:]
            else:
                y = int(t[0:4])
                t = t[4:]
            out.append(
                time.unix_seconds(
                    y, int(t[0:2]), int(t[2:4]), int(t[4:6]), int(t[6:8]), int(t[8:10])
                )
            )
    return out


class _DatedCallback:
    # Wraps the firmware's verify_callback (or none). mbedTLS calls it from the chain's top down to
    # the broker's own certificate (depth 0), after its own checks: like the chip, every
    # certificate is shown to the firmware, and the dates fail the handshake at depth 0.
    def __init__(self, inner):
        self.inner = inner
        self.bad = False

    def __call__(self, cert, depth):
        now = time.unix_ns() // 1000000000
        start, end = validity(cert)
        if not start <= now <= end:
            self.bad = True
        r = self.inner(cert, depth) if self.inner is not None else 0
        if depth == 0:
            _sched.blocking(_BLOCK_MS)
            if self.bad and not r:
                return _VERIFY_FAILED
        return r


_wrap = ssl.SSLContext.wrap_socket


def _wrap_socket(self, sock, *args, **kwargs):
    ctx = self._context
    cb = ctx.verify_callback
    if isinstance(cb, _DatedCallback):
        cb = cb.inner
    ctx.verify_callback = _DatedCallback(cb)
    return _wrap(self, sock, *args, **kwargs)


ssl.SSLContext.wrap_socket = _wrap_socket
