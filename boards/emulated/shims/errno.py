# `errno` for the emulated board: the ESP32 port's numbers, not the unix port's.
#
# The ESP32 port builds with MICROPY_USE_INTERNAL_ERRNO 0 (ports/esp32/mpconfigport.h), so its
# errno values are the toolchain's newlib ones (newlib libc/include/sys/errno.h), which differ
# from Linux's above 34: ECONNABORTED is 113 (Linux 103; 113 is EHOSTUNREACH there), ENOTCONN
# 128 (Linux 107), EINPROGRESS 119 (Linux 115). The `socket` shim raises these numbers too, so
# firmware that compares with a Linux number fails here as it would on the chip.
# The names MicroPython's errno module has (py/mpconfig.h MICROPY_PY_ERRNO_LIST; no EPIPE),
# with newlib's numbers.
EPERM = 1
ENOENT = 2
EIO = 5
EBADF = 9
EAGAIN = 11
ENOMEM = 12
EACCES = 13
EEXIST = 17
ENODEV = 19
EISDIR = 21
EINVAL = 22
EOPNOTSUPP = 95
EADDRINUSE = 112
ECONNABORTED = 113
ECONNRESET = 104
ENOBUFS = 105
ENOTCONN = 128
ETIMEDOUT = 116
ECONNREFUSED = 111
EHOSTUNREACH = 118
EALREADY = 120
EINPROGRESS = 119


def __getattr__(name):
    # `errorcode` (number -> name), built when first asked for, not at import: the firmware
    # never reads it, and on the chip the table is in flash.
    if name != "errorcode":
        raise AttributeError(name)
    table = {v: k for k, v in globals().items() if k[:1] == "E"}
    globals()["errorcode"] = table
    return table


# Linux number -> newlib number, for the `socket` shim (the ones that differ and lwIP can raise)
FROM_LINUX = {
    95: EOPNOTSUPP,
    97: 106,  # EAFNOSUPPORT
    88: 108,  # ENOTSOCK
    90: 122,  # EMSGSIZE
    98: EADDRINUSE,
    99: 125,  # EADDRNOTAVAIL
    100: 115,  # ENETDOWN
    101: 114,  # ENETUNREACH
    103: ECONNABORTED,
    104: ECONNRESET,
    105: ENOBUFS,
    106: 127,  # EISCONN
    107: ENOTCONN,
    110: ETIMEDOUT,
    111: ECONNREFUSED,
    113: EHOSTUNREACH,
    114: EALREADY,
    115: EINPROGRESS,
}
