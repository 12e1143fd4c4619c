# The one failure type of the connection chain, and where a failure gets its kind. The kind
# names the step that broke, so the LED can show it (docs/contracts.md "LED patterns"):
# wifi (cannot join), dhcp (joined, no address), dns, connect, tls (we refused the broker or the
# handshake broke), forbidden (the broker refused this identity or a request), timeout, closed,
# protocol. Pure: the packet tests run it under CPython too.

# errno names, not numbers: an ESP32's are newlib's (ECONNABORTED 113, Linux 103); from-imports,
# as the unix port's compiler folds errno.X into its own (Linux) number
from errno import ECONNABORTED, ECONNRESET

# The TLS handshake aborted by the broker: EPIPE (32 everywhere; MicroPython's errno module has no
# name for it), ECONNRESET, ECONNABORTED, mbedTLS CONN_EOF and FATAL_ALERT (an ESP32 reads the
# broker's alert).
_ABORTED = (32, ECONNRESET, ECONNABORTED, -0x7280, -0x7780)
# kinds with a red code of their own; the others (connect, timeout, closed, protocol) show
# err_connect
_OWN_CODE = ("wifi", "dhcp", "dns", "tls", "forbidden")


class Fault(Exception):
    def __init__(self, kind, detail=""):
        super().__init__(kind, detail)
        self.kind = kind
        self.detail = detail

    def led(self):
        # -> the LED pattern that shows this kind
        return "err_" + self.kind if self.kind in _OWN_CODE else "err_connect"


def from_tls(err, broker_cert_checked):
    # A failed TLS handshake. After the broker's certificate passed our check we had sent ours:
    # an abort then means the broker refused this identity (inactive, revoked, unknown CA, no
    # iot:Connect) -> "forbidden". Before it (not a TLS server, cut off) or our own refusal of
    # the broker's certificate (a ValueError naming why: wrong CA, wrong host name) -> "tls".
    refused = broker_cert_checked and isinstance(err, OSError) and err.errno in _ABORTED
    return Fault("forbidden" if refused else "tls", str(err))


def from_connack(rc):
    # A refused CONNACK: 4 bad user name/password, 5 not authorised: the broker refused this
    # identity; any other code is a connection problem.
    return Fault("forbidden" if rc in (4, 5) else "connect", "CONNACK rc=%d" % rc)


def backoff_ms(attempt, base_ms, max_ms, rand16=None):
    # Jittered exponential back-off before retry `attempt` (0 first): a random point in the upper
    # half of base * 2^attempt, capped; rand16 (0..65535) is drawn when not given.
    if rand16 is None:
        import os

        r = os.urandom(2)
        rand16 = r[0] << 8 | r[1]
    span = min(max_ms, base_ms << min(attempt, 16))
    return span // 2 + (span // 2) * rand16 // 65536
