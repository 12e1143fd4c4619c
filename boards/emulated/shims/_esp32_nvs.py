# `esp32.NVS` for the emulated board, loaded by the `esp32` shim when first asked for: the
# firmware does not use it, and its code would otherwise sit on the GC heap (a chip has it in
# flash).
import json


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
