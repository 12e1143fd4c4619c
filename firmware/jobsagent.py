# Jobs agent: the device side of the AWS IoT Jobs MQTT API (guide "Jobs device MQTT and HTTPS
# APIs", the flow of the AWS IoT Device Client's jobs feature). connection.JobsWatch routes the Jobs
# topics and imports this module only while there is work: on each session, and on a
# `notify-next` naming an execution while no agent runs, Agent.drain() asks `start-next` until
# nothing is pending, and the module is dropped again (memory: an idle button keeps only the
# watch). Each execution it gets is run by the operation's own module, `jobop_<operation>.py`
# (imported for that job, dropped after):
#     async def run(agent, job) -> (status, statusDetails) | None
#     def resume(agent, job) -> (status, statusDetails) | None      (optional)
# `job` is the execution (jobId, jobDocument, status, statusDetails, versionNumber). run() returning
# None finishes after a reset; on the next boot start-next hands back the execution IN_PROGRESS
# with the statusDetails reported before it (a `step`), and resume() decides the final status
# (None: run it again). Every request has a fresh clientToken; a request unanswered in REPLY_MS or
# throttled (RequestThrottled / Throttled) is sent again after a jittered exponential back-off.
# Updates carry expectedVersion; a VersionMismatch or an answer lost to a timeout is settled
# from the executionState the cloud returns. A job the cloud ended under us (canceled, timed out)
# is dropped. Never raises out of a job: a malformed document or an unknown operation is
# REJECTED, an operation's exception FAILED, with the reason in statusDetails.
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

import events
from fault import backoff_ms

REPLY_MS = 10000  # a request with no accepted/rejected answer this long is sent again
BACKOFF_BASE_MS = 1000
BACKOFF_MAX_MS = 32000
_THROTTLED = ("RequestThrottled", "Throttled")
_OP_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-"
_LOST_MAX = 2  # sessions in a row closed with a request unanswered: the policy denies jobs


class JobEnded(Exception):
    # the cloud ended the execution under us (terminal state, canceled): drop the job
    pass


class Denied(Exception):
    # the policy does not allow jobs (see the top of this file)
    pass


class Agent:
    def __init__(self, app, client, watch):
        self.app = app
        self.client = client
        self.watch = watch  # connection.JobsWatch: routes the replies here, counts lost sessions
        self.base = watch.base
        self.job = None  # type: dict | None  # the execution being run
        self.version = 0  # its versionNumber as last accepted
        self.details = {}  # its statusDetails as last reported
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

    async def request(self, topic, body):
        # -> (accepted, reply). Sent again (fresh clientToken, after a back-off) when unanswered
        # or throttled; waits across sessions.
        attempt = 0
        watch = self.watch
        watch.asking = True
        while True:
            if watch.lost >= _LOST_MAX:
                raise Denied()
            token = hexlify(os.urandom(8)).decode()
            body["clientToken"] = token
            w = [asyncio.Event(), False, None]
            self._waits[token] = w
            try:
                await self.client.connected.wait()
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

    # -- the execution --

    async def update(self, status, details=None):
        # Report the execution's status (statusDetails: a flat map of strings, replacing the last
        # one). -> True once accepted; JobEnded if the cloud ended it.
        job = self.job or {}
        if details is not None:
            self.details = details
        body = {
            "status": status,
            "statusDetails": self.details,
            "expectedVersion": self.version,
            "includeJobExecutionState": True,
        }
        while True:
            ok, reply = await self.request(self.base + job["jobId"] + "/update", body)
            state = reply.get("executionState") or {}
            if ok:
                self.version = state.get("versionNumber", self.version + 1)
                events.emit("job", id=job["jobId"], status=status, **self.details)
                return True
            now = state.get("status")
            if reply.get("code") == "VersionMismatch" and now == "IN_PROGRESS":
                # an update of ours accepted whose answer was lost, or a start by another request
                self.version = state["versionNumber"]
                if status == now and state.get("statusDetails") == self.details:
                    return True
                body["expectedVersion"] = self.version
                continue
            if now == status and state.get("statusDetails") == self.details:
                return True  # it went through on an earlier try
            events.emit("job", id=job["jobId"], ended=reply.get("code"), msg=reply.get("message"))
            raise JobEnded()

    async def progress(self, **details):
        # statusDetails while IN_PROGRESS (e.g. step="downloading", got="4096"): merged
        d = dict(self.details)
        d.update(details)
        return await self.update("IN_PROGRESS", d)

    async def _next(self):
        # start the next pending execution and run it; -> whether there was one
        ok, reply = await self.request(self.base + "start-next", {})
        ex = reply.get("execution") if ok else None
        if not ex:
            return False
        self.job = ex
        self.version = ex.get("versionNumber", 1)
        self.details = ex.get("statusDetails") or {}
        try:
            await self._execute(ex)
        except JobEnded:
            pass
        finally:
            self.job = None
            gc.collect()
        return True

    async def _execute(self, ex):
        doc = ex.get("jobDocument")
        op = doc.get("operation") if isinstance(doc, dict) else None
        if (
            not isinstance(op, str)
            or not op
            or len(op) > 32
            or [1 for ch in op if ch not in _OP_CHARS]
        ):
            await self.update("REJECTED", {"reason": "no valid operation in the job document"})
            return
        name = "jobop_" + op.replace("-", "_")
        try:
            mod = __import__(name)
        except ImportError:
            await self.update("REJECTED", {"reason": "unknown operation " + op})
            return
        try:
            result = None
            if self.details.get("step") and hasattr(mod, "resume"):
                result = mod.resume(self, ex)  # IN_PROGRESS from before a reset
            if result is None:
                result = await mod.run(self, ex)
        except JobEnded:
            raise
        except Exception as e:
            result = ("FAILED", {"reason": "%s: %s" % (type(e).__name__, e)})
        finally:
            sys.modules.pop(name, None)  # the operation's code is not kept
        if result is not None:
            await self.update(result[0], result[1])
