# Jobs agent: the device side of the AWS IoT Jobs MQTT API (guide "Jobs device MQTT and HTTPS
# APIs", the flow of the AWS IoT Device Client's jobs feature). connection.JobsWatch routes the Jobs
# topics and imports this module only while there is work: on each session, and on a
# `notify-next` naming an execution while no agent runs, Agent.drain() asks `start-next` until
# nothing is pending, and the module is dropped again (memory: an idle button keeps only the
# watch). Each execution it gets is run by jobrun.Execution (imported for it, dropped after),
# which runs the operation's own module, `jobop_<operation>.py`.
# Every request has a fresh clientToken; a request unanswered in REPLY_MS or throttled
# (RequestThrottled / Throttled) is sent again after a jittered exponential back-off.
# AWS IoT closes a session on a request its policy denies: with a policy that allows the clicks
# but not jobs, every session would end at the watch's subscribe or the agent's start-next, and no
# click would get through. A refused subscribe, or _LOST_MAX sessions in a row ended with a request
# of ours unanswered (counted by the watch, which outlives the agent), turn jobs off until the next
# boot (an `error` `jobs`), as the shadow agent does.
import asyncio
import gc
import json
import os
import sys
from binascii import hexlify

from fault import backoff_ms

REPLY_MS = 10000  # a request with no accepted/rejected answer this long is sent again
BACKOFF_BASE_MS = 1000
BACKOFF_MAX_MS = 32000
_THROTTLED = ("RequestThrottled", "Throttled")
_LOST_MAX = 2  # sessions in a row closed with a request unanswered: the policy denies jobs


class Denied(Exception):
    # the policy does not allow jobs (see the top of this file)
    pass


class Agent:
    def __init__(self, app, client, watch):
        self.app = app
        self.client = client
        self.watch = watch  # connection.JobsWatch: routes the replies here, counts lost sessions
        self.base = watch.base
        self._waits = {}  # clientToken -> [Event, accepted, reply]

    async def drain(self):
        # Start and run executions until none is pending. -> None, or why the policy seems to
        # deny jobs.
        try:
            while await self._next():
                pass
        except Denied:
            return "sessions closed with a request unanswered"
        return None

    # -- MQTT --

    def on_reply(self, topic, payload):
        try:
            reply = json.loads(payload)
            w = self._waits.get(reply.get("clientToken"))
        except (ValueError, AttributeError):
            return
        if w:
            w[1] = topic.endswith(b"/accepted")
            w[2] = reply
            w[0].set()

    async def request(self, topic, body, within_session=False):
        # -> (accepted, reply). Sent again (fresh clientToken, after a back-off) when unanswered
        # or throttled; waits across sessions, unless `within_session`: then (False, {}) once the
        # session is gone (start-next: the watch asks again on the next one, and meanwhile this
        # agent is not kept; `asking` stays set, so a policy that denies jobs is still counted).
        attempt = 0
        watch = self.watch
        watch.asking = True
        while True:
            if watch.lost >= _LOST_MAX:
                raise Denied()
            if within_session and not self.client.connected.is_set():
                return False, {}
            while not self.client.connected.is_set():
                if self.client.starved:
                    # the session ran out of heap with this agent loaded: waiting for the next one
                    # would keep it down (the watch drops the agent and fails its execution)
                    raise MemoryError("the session ran out of heap during the job")
                await asyncio.sleep_ms(500)
            token = hexlify(os.urandom(8)).decode()
            body["clientToken"] = token
            w = [asyncio.Event(), False, None]
            self._waits[token] = w
            try:
                await asyncio.wait_for_ms(self._ask(topic, body, w[0]), REPLY_MS)
            except Exception:  # no answer in time, or the session broke under the publish
                pass
            finally:
                self._waits.pop(token, None)
            reply = w[2]
            if reply is not None and (w[1] or reply.get("code") not in _THROTTLED):
                watch.asking = False
                return w[1], reply
            await asyncio.sleep_ms(backoff_ms(attempt, BACKOFF_BASE_MS, BACKOFF_MAX_MS))
            attempt += 1

    async def _ask(self, topic, body, answered):
        await self.client.publish(topic, json.dumps(body), 1)
        await answered.wait()

    async def _next(self):
        # start the next pending execution and run it; -> whether there was one
        ok, reply = await self.request(self.base + "start-next", {}, within_session=True)
        ex = reply.get("execution") if ok else None
        if not ex:
            return False
        self.watch.running = ex.get("jobId")  # the watch fails it if the heap runs out
        gc.collect()
        try:
            import jobrun  # the run of one execution: imported for it, dropped after (memory)

            await jobrun.Execution(self, ex).run()
        finally:
            sys.modules.pop("jobrun", None)
            gc.collect()
        self.watch.running = None  # else the watch clears it once it has failed the execution
        return True
