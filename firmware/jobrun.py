# The run of one job execution (docs/firmware-connectivity.md "Jobs agent and OTA"): imported by
# jobsagent.Agent for an execution start-next handed it, dropped after it, so that the agent an
# idle session loads to ask start-next is only the asking part (memory).
# Execution(agent, ex).run() checks the document's `operation`, imports `jobop_<operation>.py` for
# this job only and hands it this object (update, progress, details, app):
#     async def run(execution, job) -> (status, statusDetails) | None
#     def resume(execution, job) -> (status, statusDetails) | None      (optional)
# None from run() finishes after a reset: on the next boot start-next hands back the execution
# IN_PROGRESS with the statusDetails reported before it (a `step`), and resume() decides the final
# status (None: run it again). Updates carry expectedVersion; a VersionMismatch or an answer lost
# to a timeout is settled from the executionState the cloud returns. A job the cloud ended under
# us (canceled, timed out) is dropped. Never raises out of a job: a malformed document or an
# unknown operation is REJECTED, an operation's exception FAILED, with the reason in statusDetails.
import sys

import events

_OP_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-"


class JobEnded(Exception):
    # the cloud ended the execution under us (terminal state, canceled): drop the job
    pass


class Execution:
    def __init__(self, agent, ex):
        self.agent = agent  # jobsagent.Agent: its request() is the way to the cloud
        self.app = agent.app
        self.job = ex
        self.version = ex.get("versionNumber", 1)  # its versionNumber as last accepted
        self.details = ex.get("statusDetails") or {}  # its statusDetails as last reported

    async def run(self):
        try:
            await self._execute(self.job)
        except JobEnded:
            pass

    async def update(self, status, details=None):
        # Report the execution's status (statusDetails: a flat map of strings, replacing the last
        # one). -> True once accepted; JobEnded if the cloud ended it.
        job_id = self.job["jobId"]
        if details is not None:
            self.details = details
        body = {
            "status": status,
            "statusDetails": self.details,
            "expectedVersion": self.version,
            "includeJobExecutionState": True,
        }
        while True:
            ok, reply = await self.agent.request(self.agent.base + job_id + "/update", body)
            state = reply.get("executionState") or {}
            if ok:
                self.version = state.get("versionNumber", self.version + 1)
                events.emit("job", id=job_id, status=status, **self.details)
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
            events.emit("job", id=job_id, ended=reply.get("code"), msg=reply.get("message"))
            raise JobEnded()

    async def progress(self, **details):
        # statusDetails while IN_PROGRESS (e.g. step="downloading", got="4096"): merged
        d = dict(self.details)
        d.update(details)
        return await self.update("IN_PROGRESS", d)

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
