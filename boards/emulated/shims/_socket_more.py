# The methods of the emulated board's sockets that a configured board's session does not use
# (the config page's server, blocking and stream-less calls), installed into socket.socket by its
# __getattr__ when first asked for: on a chip they are in flash, here they would otherwise sit on
# the GC heap for the life of the process. As the `socket` shim's others: the unix port's call,
# with newlib's errno numbers.
import socket as _shim


def bind(self, addr):
    return self._call(self._s.bind, addr)


def listen(self, backlog=5):
    return self._call(self._s.listen, backlog)


def accept(self):
    raw, addr = self._call(self._s.accept)
    return _shim.socket(_raw=raw), addr


def settimeout(self, t):
    return self._s.settimeout(t)


def setsockopt(self, level, opt, value):
    return self._call(self._s.setsockopt, level, opt, value)


def send(self, data):
    return self._call(self._s.send, data)


def sendall(self, data):
    return self._call(self._s.sendall, data)


def recvfrom(self, n):
    return self._call(self._s.recvfrom, n)


def read(self, n=-1):
    return self._call(self._s.read, n) if n >= 0 else self._call(self._s.read)


def makefile(self, *_a):
    return self


def fileno(self):
    return self._s.fileno()  # (select.poll asks the ioctl, as on the ESP32, not this)
