# ruff: noqa: ARG002  (signatures mirror the ESP32 API; unmodelled arguments are ignored)
# `neopixel` for the emulated board: write() shows the pixels to the rig (`pixel` message).
import time

import _rig


class NeoPixel:
    ORDER = (1, 0, 2, 3)

    def __init__(self, pin, n, bpp=3, timing=1):
        self.pin = pin
        self.n = n
        self.bpp = bpp
        self._px = [(0,) * bpp for _ in range(n)]

    def __len__(self):
        return self.n

    def __setitem__(self, i, v):
        self._px[i] = tuple(v)

    def __getitem__(self, i):
        return self._px[i]

    def fill(self, v):
        for i in range(self.n):
            self._px[i] = tuple(v)

    def write(self):
        pid = self.pin if isinstance(self.pin, int) else self.pin._id
        rgb = [list(p[:3]) for p in self._px]
        _rig.send({"op": "pixel", "pin": pid, "rgb": rgb, "t": time.ticks_ms()})
