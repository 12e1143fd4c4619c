# The services of a configured board's MQTT connection (docs/firmware-connectivity.md), wired by
# services.register; a blank board never imports this module:
#  - Connection: the MQTT sessions. MQTT runs only while the station has an address: when the
#    link drops the session is closed, as a lost radio link ends a chip's TCP connections;
#  - Clicks: the clicks it carries. They go to the flash outbox first and keep the board awake
#    (set_busy "outbox") until their PUBACK;
#  - LazyAgent and JobsWatch: the doors of the device agents (docs "Shadow agent", "Jobs agent
#    and OTA"): an agent's code is imported only once there is a session and work for it, so a
#    board that never connects, or an idle one, does not hold it.
import asyncio
import gc
import json
import sys

import clock
import events
import outbox


class Connection:
    # MQTT sessions while the station is up; jittered exponential back-off between attempts.
    # A `forbidden` session (a refused TLS handshake or CONNACK, fault.py; a click closed twice
    # without PUBACK, mqtt.Client._refusal) backs off two steps further (2-4 s first, up to the
    # maximum): it will be refused again until its policy changes, and its LED code is seen whole.
    BACKOFF_BASE_MS = 1000
    BACKOFF_MAX_MS = 60000
    LINK_POLL_MS = 200  # how often the station's link is checked while a session is up

    def __init__(self, app, client, station, host):
        self.app = app
        self.client = client
        self.station = station
        self.host = host
        self.refusals = 0  # sessions refused in a row
        client.on_up.append(self._up)

    def _up(self):
        events.emit("mqtt", state="up", host=self.host)
        self.app.led.show("off")

    def _down(self, err):
        events.emit("mqtt", state="down", kind=err.kind, msg=err.detail)
        if self.station.up.is_set():  # without a link the station shows what is wrong
            self.app.led.show(err.led())

    async def _clock(self):
        # -> whether the clock can be trusted (set now, or kept through deep sleep)
        try:
            await clock.sync()
        except Exception as e:
            events.error("clock", "%s: %s" % (type(e).__name__, e))
        return clock.valid()

    async def _watch(self, session):
        # a lost link ends the session, as it ends a chip's TCP connections
        while self.station.up.is_set():
            await asyncio.sleep_ms(self.LINK_POLL_MS)
        session.cancel()

    async def run(self):
        from fault import Fault, backoff_ms

        c = self.client
        while True:
            await self.station.up.wait()
            if not await self._clock():
                # A cold boot without SNTP: the RTC reads 2000 and mbedTLS would refuse every
                # certificate as not yet valid. No doomed handshake; SNTP is retried first.
                err = Fault("tls", "clock not set")
            else:
                gc.collect()  # the last session's buffers and garbage gone before the handshake
                session = asyncio.create_task(c.session())
                watch = asyncio.create_task(self._watch(session))
                try:
                    await session
                    err = Fault("closed")
                except Fault as e:
                    err = e
                except asyncio.CancelledError:
                    err = Fault("closed", "link lost")
                watch.cancel()
                # the ended session's tasks hold its frames: garbage before the next handshake
                session = watch = None
            self._down(err)
            c.failures += 1
            attempt = c.failures - 1
            if err.kind == "forbidden":
                self.refusals += 1
                attempt = max(attempt, self.refusals + 1)
            else:
                self.refusals = 0
            await asyncio.sleep_ms(backoff_ms(attempt, self.BACKOFF_BASE_MS, self.BACKOFF_MAX_MS))


class Clicks:
    # The click sender (outbox.ClickSender over the flash outbox), and one console line once a
    # click is safe on the flash: `outbox` `stored` (eventId) and `n` (clicks waiting). A power
    # cut after that line loses nothing.
    def __init__(self, app, client):
        self.app = app
        self.sender = outbox.ClickSender(
            outbox.Outbox(),
            client,
            app.serial,
            app.topic,
            self._battery_mv,
            clock.iso_now,
            app.led.show,
        )
        self.sender.busy = self._busy  # type: ignore

    def _battery_mv(self):
        return self.app.battery_mv() or 0

    def _busy(self, busy):
        self.app.set_busy("outbox", busy)  # no deep sleep with clicks waiting

    def on_click(self, event):
        self.sender.on_click(event)
        events.emit("outbox", stored=event["id"], n=len(self.sender.outbox))

    async def run(self):
        await self.sender.run()


class LazyAgent:
    # A device agent (`module`.Agent(app, client, *args)): imported once the first session is up,
    # so a board that never connects never loads it; then it serves every later session itself.
    # The app's on_click reaches it once loaded.
    def __init__(self, app, client, module, *args):
        self.app = app
        self.client = client
        self.module = module
        self.args = args
        self.agent = None

    def on_click(self, event):
        hook = getattr(self.agent, "on_click", None)
        if hook:
            hook(event)

    async def run(self):
        if self.agent is None:
            await self.client.connected.wait()
            gc.collect()
            self.agent = __import__(self.module).Agent(self.app, self.client, *self.args)
        await self.agent.run()


class JobsWatch:
    # The door of the jobs agent (docs/firmware-connectivity.md "Jobs agent and OTA"): routes the
    # Jobs topics for the whole boot and imports `jobsagent` only while there is work, at each new
    # session (a job may have been queued while the board was away) and on a `notify-next` naming
    # an execution while no agent runs; the agent asks `start-next` until nothing is pending and
    # is dropped with its code, so an idle button keeps only this. What must outlive an agent
    # lives here: sessions lost while it asked (a policy that denies jobs ends them).
    FILTERS = ("notify-next", "start-next/+", "+/update/+")
    SETTLE_MS = 200

    def __init__(self, app, client):
        self.app = app
        self.client = client
        self.base = "$aws/things/" + app.serial + "/jobs/"
        self.agent = None  # the jobsagent.Agent while it drains
        self.draining = False  # from before the import until the agent is dropped
        self.wake = asyncio.Event()
        self.asking = False  # a request of the agent's waits for its answer
        self.lost = 0  # sessions in a row that ended while one waited
        self.running = None  # jobId of the execution the agent runs
        client.on_up.append(self._up)

    def _up(self):
        self.lost = self.lost + 1 if self.asking else 0

    def _on_notify(self, _topic, payload):
        # An agent asks start-next again after each job, so a notification while it drains (a
        # duplicate, the job being run, one before start-next's own answer) changes nothing.
        if self.draining:
            return
        try:
            execution = json.loads(payload).get("execution")
        except (ValueError, AttributeError):
            return
        if execution:
            self.wake.set()

    def _on_reply(self, topic, payload):
        if self.agent is not None:
            self.agent.on_reply(topic, payload)

    async def run(self):
        from fault import Fault

        c = self.client
        # routed from within a session, so that a refused SUBSCRIBE is this call's (and ends
        # jobs), not a failure of every session's start
        await c.connected.wait()
        for f, handler in zip(self.FILTERS, (self._on_notify, self._on_reply, self._on_reply)):
            try:
                await c.route(self.base + f, handler)
            except Fault as e:
                if e.kind == "forbidden":
                    await self._give_up("subscribe refused")
                    return
                # else routed all the same: subscribed when the next session starts
        while True:
            await c.connected.wait()
            self.wake.set()  # a new session: ask what is pending (a notification may be lost)
            while c.connected.is_set():
                try:
                    await asyncio.wait_for_ms(self.wake.wait(), 1000)
                except asyncio.TimeoutError:
                    continue
                self.wake.clear()
                await self._settle()
                denied = await self._drain()
                if denied:
                    await self._give_up(denied)
                    return

    async def _settle(self):
        # A session's first moments belong to the clicks in flight and the shadow's exchange (the
        # work that keeps the board awake): the agent is imported after them, so that their
        # buffers and its code are not in the heap at once (a reconnect is the session's peak).
        await asyncio.sleep_ms(self.SETTLE_MS)
        while self.app.is_busy() and self.client.connected.is_set():
            await asyncio.sleep_ms(self.SETTLE_MS)

    async def _drain(self):
        self.draining = True
        self.app.set_busy("job")  # no deep sleep before start-next answered
        gc.collect()
        try:
            self.agent = __import__("jobsagent").Agent(self.app, self.client, self)
            return await self.agent.drain()
        except MemoryError as e:
            short = e
            job = self.running
        finally:
            self.agent = None
            self.running = None
            self.draining = False
            sys.modules.pop("jobsagent", None)
            self.app.set_busy("job", False)
            gc.collect()
        await self._fail_short(job, short)

    async def _fail_short(self, job, e):
        # The heap ran out outside an operation (importing the run's code, parsing an answer):
        # with the agent and its modules gone, the execution is failed with the reason, in one
        # small message, instead of started again and again at each session.
        if job is None:
            raise e
        reason = "MemoryError: " + str(e)
        body = {"status": "FAILED", "statusDetails": {"reason": reason}}
        await self.client.publish(self.base + job + "/update", json.dumps(body), 1)
        events.emit("job", id=job, status="FAILED", reason=reason)

    async def _give_up(self, why):
        from fault import Fault

        events.error("jobs", why + ": no jobs until reboot (does the policy allow them?)")
        for f in self.FILTERS:
            try:
                await self.client.unroute(self.base + f)
            except Fault:
                pass
