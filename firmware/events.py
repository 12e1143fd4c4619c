"""Console events: one `EVT ` line of compact JSON per event (docs/contracts.md), heap tracking."""

import gc
import json

_peak = 0


def emit(ev, **fields):
    fields["ev"] = ev
    print("EVT " + json.dumps(fields, separators=(",", ":")))


def track_heap():
    """Note the live GC heap now (after a collection, so garbage does not count; a few ms on
    an ESP32, done at human-speed moments like a click); the peak is reported by heap()."""
    global _peak
    gc.collect()
    alloc = gc.mem_alloc()  # type: ignore[attr-defined]
    if alloc > _peak:
        _peak = alloc
    return alloc


def heap():
    alloc = track_heap()
    emit("heap", free=gc.mem_free(), alloc=alloc, peak=_peak)  # type: ignore[attr-defined]


def error(code, msg):
    emit("error", code=code, msg=msg)
