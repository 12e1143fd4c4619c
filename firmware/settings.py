"""settings.json: defaults, validation per key, atomic persistence, change listeners.

A refused value keeps the old one and the reason is reported (`settings` event, and returned).
A corrupt file at boot gives the defaults and an `error` event; it is kept as settings.json.bad.
"""

import events
import store

SCHEMA = 1
PATH = "settings.json"

DEFAULTS = {
    "debounce_ms": 50,
    "double_ms": 400,
    "long_ms": 1500,
    "idle_sleep_s": 0,  # 0 = never deep sleep
    "topic": "iotbutton/{serial}",
    "heap_report_s": 60,  # 0 = only on request
}

# key: (type, lowest, highest); for str the bounds are on the length
RULES = {
    "debounce_ms": (int, 5, 200),
    "double_ms": (int, 100, 2000),
    "long_ms": (int, 500, 10000),
    "idle_sleep_s": (int, 0, 86400),
    "topic": (str, 1, 128),
    "heap_report_s": (int, 0, 86400),
}


def check(key, value, current):
    """None if `value` is acceptable for `key` given the other `current` values, else the reason."""
    rule = RULES.get(key)
    if rule is None:
        return "unknown setting"
    kind, lo, hi = rule
    if type(value) is not kind:  # bool is not an int here
        return "must be " + ("an integer" if kind is int else "a string")
    size = len(value) if kind is str else value
    if size < lo or size > hi:
        return "out of range %d..%d" % (lo, hi)
    if key == "topic" and ("#" in value or "+" in value or value.startswith("$")):
        return "no MQTT wildcards or $ topics"
    if key in ("double_ms", "long_ms") and value <= current["debounce_ms"]:
        return "must exceed debounce_ms"
    if key == "debounce_ms" and value >= min(current["double_ms"], current["long_ms"]):
        return "must be below double_ms and long_ms"
    return None


class Settings:
    def __init__(self, path=PATH):
        self.path = path
        self.values = dict(DEFAULTS)
        self._listeners = []

    def __getitem__(self, key):
        return self.values[key]

    def on_change(self, fn):
        """fn(changed) is called with the dict of applied changes."""
        self._listeners.append(fn)

    def load(self):
        """Read the file at boot; the board keeps working whatever it holds."""
        try:
            data = store.read_json(self.path)
        except ValueError:
            self._corrupt("not valid JSON")
            return
        if data is None:
            return
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            self._corrupt("not a schema %d settings object" % SCHEMA)
            return
        data.pop("schema")
        _, refused = self._merge(data)
        if refused:
            events.emit("settings", refused=refused)

    def apply(self, changes):
        """Validate and apply `changes` (a dict), persist, tell listeners; -> (changed, refused)."""
        if not isinstance(changes, dict):
            refused = {"*": "settings must be an object"}
            events.emit("settings", refused=refused)
            return {}, refused
        changed, refused = self._merge(changes)
        if changed:
            self.save()
            events.emit("settings", changed=changed)
            for fn in self._listeners:
                fn(changed)
        if refused:
            events.emit("settings", refused=refused)
        return changed, refused

    def save(self):
        data = dict(self.values)
        data["schema"] = SCHEMA
        store.write_json(self.path, data)

    def _merge(self, changes):
        changed = {}
        refused = {}
        todo = list(changes)
        for _ in range(2):  # a second pass: timings that depend on each other, in any key order
            refused = {}
            for key in todo:
                value = changes[key]
                reason = check(key, value, self.values)
                if reason:
                    refused[key] = reason
                elif self.values.get(key) != value:
                    self.values[key] = value
                    changed[key] = value
            todo = list(refused)
        return changed, refused

    def _corrupt(self, why):
        try:
            store.write_bytes(self.path + ".bad", store.read_bytes(self.path) or b"")
            store.remove(self.path)
        except OSError:
            pass
        events.error("settings_corrupt", "settings.json " + why + "; defaults used, kept as .bad")
