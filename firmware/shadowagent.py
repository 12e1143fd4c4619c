# The shadow agent (docs/firmware-connectivity.md "Shadow agent"; the reported keys in
# docs/contracts.md "Shadow agent"): this thing's classic shadow, the thing being the serial (the
# client id). Imported by connection.LazyAgent once the first session is up.
#
# Each session: get the shadow, apply its delta (what was desired while the board slept or was
# offline), report one whole document; afterwards only what changed (settings, click counts,
# refusals). A delta's settings are validated, applied, persisted (settings.Settings.apply) and
# reported back; a refused one keeps the old value and `settings_refused` says why. The guide's
# Message Order rule: a get or delta whose version is not newer than the last one applied is
# ignored (the version is kept in RAM; after a reboot the first get is newer than nothing).
import asyncio
import gc
import json

import events
import identity
from fault import Fault

_GET_WAIT_MS = 5000  # no answer to the get this long: report without it
_GET_RETRY_MS = 10000  # and ask again this much later (the cloud may be reconnecting)
_PUBACK_WAIT_MS = 10000  # a report not acknowledged this long is sent again with the next one
_LOST_MAX = 2  # sessions in a row closed before the get was answered: the policy denies it
_COUNTS_MS = 2000  # the click counts of a burst go in one report, this long after its first click
_TOPICS = ("get/accepted", "get/rejected", "update/delta", "update/rejected")
_TOKEN = "sa"  # clientToken prefix of this agent's updates
_NONE = object()


def report_of(now, sent, force):
    """The keys of `now` to report: changed since `sent` (the acknowledged values) or in `force`."""
    out = {}
    for key, value in now.items():
        if key in force or sent.get(key, _NONE) != value:
            out[key] = value
    return out


class Agent:
    def __init__(self, app, client, rssi):
        self.app = app
        self.client = client
        self.rssi = rssi  # f() -> dBm, or None without a link
        self.base = "$aws/things/%s/shadow/" % app.serial
        self.version = -1  # of the last get or delta applied
        self.refused = {}  # setting -> reason, of the last delta applied
        self.sent = {}  # reported and acknowledged in this session
        self.force = set()  # keys a delta asked for: reported even if unchanged
        self.inbox = []  # (topic suffix, document) waiting for run()
        self.fresh = True  # a session is up: get, then report everything
        self.need_get = False  # the session's get is not answered yet
        self.lost = 0  # sessions in a row that ended with the get unanswered
        self.got = asyncio.Event()
        self.wake = asyncio.Event()
        self.wake.set()
        self.token = 0
        self.counting = False  # a burst's click counts wait for their report
        self.off = False  # gave up until the next boot (_give_up)
        client.on_up.append(self._up)

    def _up(self):
        self.lost = self.lost + 1 if self.need_get else 0
        self.fresh = True
        self.wake.set()

    def on_click(self, _event):
        # The click counts changed (app.counts). A burst of clicks is reported once, not once a
        # click: each report is an MQTT message the account pays for, and its buffers are the
        # heap a click's own publish needs at the same moment.
        if not self.counting and not self.off:
            self.counting = True
            self.app.set_busy("shadow")  # reported before any deep sleep
            asyncio.create_task(self._counts_later())

    async def _counts_later(self):
        await asyncio.sleep_ms(_COUNTS_MS)
        self.counting = False
        self.wake.set()  # the step clears "shadow" once they are reported (or left to a session)

    def _message(self, topic, payload):
        # mqtt route handler: parse now, act in run()
        try:
            doc = json.loads(payload)
        except ValueError:
            return
        name = topic.decode()[len(self.base) :]
        if name.startswith("get/"):
            self.need_get = False
            self.got.set()
        if isinstance(doc, dict):
            doc.pop("metadata", None)  # a get's larger half, not needed: garbage at once
            state = doc.get("state")
            if name == "get/accepted" and isinstance(state, dict):
                doc["state"] = {"delta": state.get("delta", {})}
            self.inbox.append((name, doc))
            self.wake.set()

    async def run(self):
        c = self.client
        for suffix in _TOPICS:
            try:
                await c.route(self.base + suffix, self._message)
            except Fault as e:
                if e.kind == "forbidden":
                    await self._give_up("subscribe refused")
                    return
                # else routed all the same: subscribed when the next session starts
        while True:
            if self.lost >= _LOST_MAX:
                await self._give_up("sessions closed after the get")
                return
            if self.need_get:
                try:
                    await asyncio.wait_for_ms(self.wake.wait(), _GET_RETRY_MS)
                except asyncio.TimeoutError:
                    pass
            else:
                await self.wake.wait()
            self.wake.clear()
            try:
                await self._step()
            except (Fault, asyncio.TimeoutError):
                pass  # the session ended: the next one gets and reports afresh

    async def _give_up(self, why):
        # AWS IoT closes a session on a request its policy denies: without the shadow's
        # permissions every session would end at the get. Off until the next boot.
        events.error("shadow", why + ": no shadow until reboot (does the policy allow it?)")
        self.off = True
        self.app.set_busy("shadow", False)
        for suffix in _TOPICS:
            try:
                await self.client.unroute(self.base + suffix)
            except Fault:
                pass

    async def _step(self):
        c = self.client
        app = self.app
        if not c.connected.is_set():
            app.set_busy("shadow", False)
            return  # the next session reports it all
        app.set_busy("shadow")  # no deep sleep before the delta is applied and reported
        try:
            if self.fresh:
                self.fresh = False
                self.sent = {}
                self.need_get = True
            if self.need_get:
                self.got.clear()
                await c.publish(self.base + "get", "{}")
                try:
                    await asyncio.wait_for_ms(self.got.wait(), _GET_WAIT_MS)
                except asyncio.TimeoutError:  # not the board's failure: asked again later
                    events.emit("shadow", get="no answer")
            while self.inbox:
                self.handle(*self.inbox.pop(0))
            await self._report()
        finally:
            app.set_busy("shadow", False)

    def handle(self, name, doc):
        if name == "update/rejected":
            if str(doc.get("clientToken", "")).startswith(_TOKEN):
                events.error(
                    "shadow", "update rejected: %s %s" % (doc.get("code"), doc.get("message"))
                )
                self.sent = {}  # report everything next time
            return
        if name == "get/rejected":
            if doc.get("code") != 404:  # 404: no shadow yet, the report creates it
                events.error(
                    "shadow", "get rejected: %s %s" % (doc.get("code"), doc.get("message"))
                )
            return
        version = doc.get("version")
        state = doc.get("state")
        if type(version) is not int or not isinstance(state, dict):
            return
        if version <= self.version:
            events.emit("shadow", stale=version, version=self.version)
            return
        self.version = version
        # a delta message holds every desired key that differs, as a get's state.delta does
        self.apply(state.get("delta", {}) if name == "get/accepted" else state)

    def apply(self, delta):
        if not isinstance(delta, dict):
            delta = {}
        self.refused = {}
        if delta:
            _, self.refused = self.app.settings.apply(delta)
            for key in delta:
                if key not in self.refused:
                    self.force.add(key)  # reported, so the delta clears
        events.emit("shadow", version=self.version, delta=list(delta), refused=self.refused)

    def state(self, full):
        # the reported document; `full`: with the session's battery, RSSI and heap too
        s = dict(self.app.settings.values)
        s["clicks"] = dict(self.app.counts)
        s["settings_refused"] = self.refused or None  # null deletes the key
        if full:
            s["fw"] = identity.FW_VERSION
            s["battery_mv"] = self.app.battery_mv()
            s["rssi"] = self.rssi()
            gc.collect()
            s["heap_free"] = gc.mem_free()  # type: ignore[attr-defined]
        return s

    async def _report(self):
        out = report_of(self.state(not self.sent), self.sent, self.force)
        if not out:
            return
        self.token += 1
        doc = {"state": {"reported": out}, "clientToken": "%s%d" % (_TOKEN, self.token)}
        force, self.force = self.force, set()
        try:
            await asyncio.wait_for_ms(
                self.client.publish(self.base + "update", json.dumps(doc), 1), _PUBACK_WAIT_MS
            )
        except BaseException:
            self.force.update(force)
            raise
        self.sent.update(out)
        events.emit("shadow", reported=list(out))
