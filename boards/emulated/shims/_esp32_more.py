# The parts of the emulated board's `esp32` that the firmware does not use (NVS, ext1 and touch
# wake, temperature), loaded by the `esp32` shim when first asked for: on a chip they are in
# flash, here they would otherwise sit on the GC heap for the life of the process.
import json

import esp32


def wake_on_ext1(pins, level):
    esp32._ext1 = None if not pins else [[esp32._pin_id(p) for p in pins], 1 if level else 0]


def wake_on_touch(wake):
    pass


def raw_temperature():
    return 120  # Fahrenheit, like the chip's sensor at room temperature


def mcu_temperature():
    return 49


class NVS:
    # Kept in a hidden file on the board's flash: NVS survives power cuts on the chip.
    _FILE = ".nvs.json"

    def __init__(self, namespace):
        self._ns = namespace

    def _load(self):
        try:
            with open(self._FILE) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def _get(self, key):
        v = self._load().get(self._ns, {}).get(key)
        if v is None:
            raise OSError(-4354)  # ESP_ERR_NVS_NOT_FOUND
        return v

    def _set(self, key, value):
        d = self._load()
        d.setdefault(self._ns, {})[key] = value
        self._save(d)

    def _save(self, d):
        # Atomic, like the real NVS: a power cut never leaves half a file.
        import os

        with open(self._FILE + ".tmp", "w") as f:
            json.dump(d, f)
        os.rename(self._FILE + ".tmp", self._FILE)

    def set_i32(self, key, value):
        self._set(key, int(value))

    def get_i32(self, key):
        return self._get(key)

    def set_blob(self, key, value):
        self._set(key, list(bytes(value)))

    def get_blob(self, key, buffer):
        v = self._get(key)
        n = min(len(v), len(buffer))
        buffer[:n] = bytes(v[:n])
        return len(v)

    def erase_key(self, key):
        d = self._load()
        if key not in d.get(self._ns, {}):
            raise OSError(-4354)
        del d[self._ns][key]
        self._save(d)

    def commit(self):
        pass
