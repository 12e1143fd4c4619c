# `socket` for the emulated board: the unix port's sockets, seen as the ESP32 port's are.
#
# What differs on the chip and is modelled here (docs/esp32-differences.md "Network"):
# - errno numbers: an OSError carries newlib's number (the `errno` shim), not Linux's.
# - select.poll: an ESP32 socket is not a file descriptor; poll asks its ioctl, which
#   (MicroPython ports/esp32/modsocket.c) runs lwIP's select with only the events asked for and
#   reports an error condition as POLLHUP only when POLLHUP was registered; POLLERR never comes.
#   A failed (refused) connect is "writable" to lwIP's select, so a poll for POLLOUT alone says
#   the connection is up. The unix port's poll() would add POLLERR|POLLHUP unasked.
# - sockets are a scarce resource (lwIP has CONFIG_LWIP_MAX_SOCKETS, 10 by default): the shim
#   counts the sockets not closed yet, so a test can see a leak (open_count()).
# - getaddrinfo is a blocking C call: no soft IRQ runs during a lookup (_sched).
# Not modelled: lwIP's socket limit itself, getaddrinfo's error numbers (lwIP's EAI_* codes).
# An error in a read or write raises here even when TLS asked (the stream protocol); on the chip
# mbedTLS gets the code back, and the firmware sees the same OSError either way.
import errno
import io
import sys

from micropython import const

_p = sys.path
sys.path = []
import select as _select  # noqa: E402  (the built-ins, not the shims)
import socket as _s  # noqa: E402

sys.path = _p
del _p

for _n in dir(_s):
    if _n[:1].isupper():
        globals()[_n] = getattr(_s, _n)


def _numeric(host):
    # lwIP answers an IPv4 literal without asking a server (dns_gethostbyname: ipaddr_aton first)
    parts = host.split(".") if isinstance(host, str) else ()
    return len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts)


def getaddrinfo(host, port, *a):
    # lwIP's lookup is one blocking C call on the chip (ports/esp32 modsocket.c: lwip_getaddrinfo
    # between MP_THREAD_GIL_EXIT/ENTER, no pending check): no soft IRQ runs until it returns.
    # BUTTONRIG_DNS_BLOCK_MS (default 100): one query and its answer through the access point to
    # its resolver. lwIP's answer cache is not modelled: every lookup of a name waits.
    if not _numeric(host):
        import _sched

        _sched.blocking(_sched.figure("BUTTONRIG_DNS_BLOCK_MS", 100))
    return _s.getaddrinfo(host, port, *a)


_POLL = const(3)  # MP_STREAM_POLL
_CLOSE = const(4)  # MP_STREAM_CLOSE
_RD = const(1)
_WR = const(4)
_ERR = const(8)
_HUP = const(16)
_open = [0]
_LATER = (
    "bind",
    "listen",
    "accept",
    "settimeout",
    "setsockopt",
    "send",
    "sendall",
    "recvfrom",
    "read",
    "makefile",
    "fileno",
)


def open_count():
    # sockets created and not closed yet (for tests: a leak shows here)
    return _open[0]


def _esp(e):
    # the OSError the ESP32 port raises for the unix port's `e` (newlib's errno number)
    n = e.errno if isinstance(e.errno, int) else None
    if n is None:
        return e
    return OSError(errno.FROM_LINUX.get(n, n))


class socket(io.IOBase):
    def __init__(self, af=_s.AF_INET, kind=_s.SOCK_STREAM, proto=0, _raw=None):
        self._s = _raw if _raw is not None else _s.socket(af, kind, proto)
        self._p = None
        _open[0] += 1

    def _call(self, fn, *a):
        try:
            return fn(*a)
        except OSError as e:
            raise _esp(e)

    def __getattr__(self, name):
        # The methods a configured board's session does not use (the config page's server,
        # blocking and stream-less calls) are loaded when first asked for (_socket_more) and
        # kept in the class: on a chip they are in flash, here they would sit on the GC heap.
        if name not in _LATER:
            raise AttributeError("'socket' object has no attribute '%s'" % name)
        import _socket_more

        setattr(socket, name, getattr(_socket_more, name))
        return getattr(self, name)

    def connect(self, addr):
        return self._call(self._s.connect, addr)

    def setblocking(self, flag):
        return self._s.setblocking(flag)

    def sendto(self, data, addr):
        return self._call(self._s.sendto, data, addr)

    def recv(self, n):
        return self._call(self._s.recv, n)

    def readline(self):  # (the side channel's, _rig: so not loaded when asked)
        return self._call(self._s.readline)

    # The stream protocol (io.IOBase) calls these too (TLS, asyncio): None means "would block".
    # An error raises (as for a direct call): through TLS it surfaces as the same OSError the
    # chip's TLS layer raises, though mbedTLS itself does not see it (see the module comment).
    def readinto(self, buf, n=-1):
        return self._call(self._s.readinto, buf) if n < 0 else self._call(self._s.readinto, buf, n)

    def write(self, data):
        return self._call(self._s.write, data)

    def ioctl(self, req, arg):
        if req == _CLOSE:
            self.close()
            return 0
        if req != _POLL:
            return -errno.EINVAL
        if self._s is None:
            return 0x20  # MP_STREAM_POLL_NVAL
        if self._p is None:
            self._p = _select.poll()
            self._p.register(self._s, 0)
        self._p.modify(self._s, arg & (_RD | _WR))
        ev = self._p.poll(0)
        ev = ev[0][1] if ev else 0
        ret = ev & arg & (_RD | _WR)
        if arg & _HUP and ev & (_ERR | _HUP):
            ret |= _HUP  # lwIP's exceptset: asked for, so reported
        return ret

    def close(self):
        if self._s is not None:
            self._s.close()
            self._s = None
            self._p = None
            _open[0] -= 1

    def __del__(self):
        self.close()
