# The ESP32's scheduler for soft IRQs, and the blocking C calls that hold it back
# (docs/esp32-differences.md "Pin interrupts").
#
# Soft IRQs: the pin (and timer) ISR only calls mp_sched_schedule(handler, arg) (ports/esp32
# machine_pin.c machine_pin_isr_handler); the handler runs later on the main task, so it reads
# ticks_ms() and value() when it runs, not at the edge. The queue holds MICROPY_SCHEDULER_DEPTH = 8
# entries (ports/esp32 mpconfigport.h) and mp_sched_schedule drops what does not fit, silently
# (py/scheduler.c).
#
# Blocking C calls: scheduled callbacks run only where the VM or a wait loop calls
# mp_handle_pending; a C call that does neither holds them all back. `blocking(ms)` is one such
# call: edges queue (8 at most) until it returns. The shims call it where the chip blocks, each
# with a default figure (the stricter, realistic choice; an environment variable overrides it):
#   socket.getaddrinfo  lwIP DNS (ports/esp32 modsocket.c: lwip_getaddrinfo between
#                       MP_THREAD_GIL_EXIT/ENTER, no pending check)       BUTTONRIG_DNS_BLOCK_MS
#   the TLS handshake   mbedTLS's certificate checks and key exchange in one read/write (_tlsclock)
#                                                                         BUTTONRIG_TLS_BLOCK_MS
#   flash writes        LittleFS through esp32.Partition: esp_partition_erase_range/_write
#                       (ports/esp32 esp32_partition.c), no pending check (the `os` shim)
#                                            BUTTONRIG_FLASH_WRITE_MS, BUTTONRIG_FLASH_COMMIT_MS
import _thread
import os
import time

import micropython

DEPTH = 8
_queue = []  # (handler, arg) scheduled, not yet run
_lock = _thread.allocate_lock()
_blocked = 0  # > 0: the main task is in a blocking C call


def figure(name, default):
    """An integer from the board's environment (a blocking time in ms, a reset cause...), or the
    default. The one helper for it: every shim that needs one has _sched loaded."""
    v = os.getenv(name)
    return int(v) if v else default


def schedule(handler, arg):
    """What the ISR does: queue the handler (dropped silently when 8 are waiting)."""
    with _lock:
        if len(_queue) >= DEPTH:
            return  # the scheduler's queue is full: the event is lost
        _queue.append((handler, arg))
    _kick()


def _kick():
    if not _blocked:
        try:
            micropython.schedule(_run_queue, None)
        except RuntimeError:
            pass  # the unix port's own queue is full: a _run_queue already pending runs them


def _run_queue(_):
    while not _blocked:
        with _lock:
            if not _queue:
                return
            handler, arg = _queue.pop(0)
        handler(arg)


def blocking(ms):
    """The main task spends `ms` in a blocking C call (on the chip's clock): no soft IRQ runs."""
    global _blocked
    _blocked += 1
    try:
        if ms > 0:
            time.sleep_ms(ms)
    finally:
        _blocked -= 1
    _kick()
