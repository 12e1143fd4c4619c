# Wall clock for reportedTime and for mbedTLS, which checks certificate dates against it. A clock
# that already reads a plausible date (the RTC kept it through deep sleep, or the unix port's host
# clock) is trusted; otherwise one small SNTP query sets the RTC.
# The port's epoch, found as micropython-lib's ntptime does: 2000 on the ESP32 (no
# MICROPY_EPOCH_IS_1970), 1970 on the unix port and CPython.
import struct
import time

_Y2K = 946684800  # 1970 -> 2000
_EPOCH = 0 if time.gmtime(0)[0] == 1970 else _Y2K  # the epoch in Unix seconds
VALID_AFTER = 1735689600 - _EPOCH  # 2025-01-01T00:00:00Z: earlier means the RTC was never set
NTP_DELTA = 2208988800 + _EPOCH  # 1900 -> the port's epoch
RESYNC_S = 6 * 3600

_synced_at = None


def now_ms():
    return time.time_ns() // 1000000


def valid():
    return time.time() >= VALID_AFTER


def iso(ms):
    # 2026-11-22T02:34:57.123Z
    t = time.gmtime(ms // 1000)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (t[0], t[1], t[2], t[3], t[4], t[5], ms % 1000)


def iso_now():
    return iso(now_ms())


def ntp_request():
    return b"\x1b" + bytes(47)  # LI 0, version 3, mode 3 (client)


def ntp_seconds(reply):
    # Seconds since the port's epoch from a server reply (transmit timestamp), ValueError if it
    # is not one
    if len(reply) < 48 or reply[0] & 0x07 not in (4, 5):
        raise ValueError("not an NTP server reply")
    secs = struct.unpack_from("!I", reply, 40)[0]
    if secs == 0:
        raise ValueError("server sent no time")
    return secs - NTP_DELTA


def needs_sync():
    if not valid():
        return True
    return _synced_at is not None and time.time() - _synced_at > RESYNC_S


async def sync(host="pool.ntp.org", timeout_ms=3000, port=123):
    # -> True when the clock was set from NTP, False when it was already right
    global _synced_at
    if not needs_sync():
        return False
    import asyncio
    import socket

    import machine
    import stall

    await stall.quiet()  # the lookup blocks: not in the middle of a gesture
    stall.begin()
    try:
        addr = socket.getaddrinfo(host, port)[0][-1]
    finally:
        stall.end()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setblocking(False)
        s.sendto(ntp_request(), addr)
        t0 = time.ticks_ms()
        while True:
            try:
                reply = s.recv(48)
                break
            except OSError:
                if time.ticks_diff(time.ticks_ms(), t0) > timeout_ms:
                    raise OSError("NTP timeout")
                await asyncio.sleep_ms(20)
    finally:
        s.close()
    t = time.gmtime(ntp_seconds(reply))
    machine.RTC().datetime((t[0], t[1], t[2], t[6] + 1, t[3], t[4], t[5], 0))
    _synced_at = time.time()
    return True
