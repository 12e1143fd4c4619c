"""firmware/jobsagent.py, behind connection.JobsWatch, on the unix port against a scripted MQTT client
(no broker): the retry and duplicate rules the end-to-end tests cannot provoke at will. A start-next rejected
RequestThrottled and one never answered are sent again, each with a new clientToken; a
notify-next repeating the job being run starts nothing; the update carries expectedVersion."""

from __future__ import annotations

import json

from host.paths import FIRMWARE_DIR, SHIMS_DIR
from rig.unix_port.process import run_mp

SCRIPT = """
import asyncio, json, sys
import jobsagent, connection
jobsagent.BACKOFF_BASE_MS = 40
jobsagent.REPLY_MS = 400
BASE = "$aws/things/T1/jobs/"
EXECUTION = {"jobId": "j1", "status": "IN_PROGRESS", "versionNumber": 1, "statusDetails": {},
             "jobDocument": {"operation": "identify"}}

class Led:
    def show(self, name):
        print("LED", name)

class App:
    serial = "T1"
    led = Led()
    busy = set()
    def set_busy(self, name, busy=True):
        print("BUSY", name, busy)
        (self.busy.add if busy else self.busy.discard)(name)
    def is_busy(self):
        return bool(self.busy)

STARVE = False  # the session runs out of heap under the job's first update

class Client:
    starved = False

    def __init__(self):
        self.on_up = []
        self.connected = asyncio.Event()
        self.connected.set()
        self.routes = {}
        self.sent = []
        self.starts = 0

    async def route(self, topic_filter, handler, qos=1):
        self.routes[topic_filter] = handler

    def handler(self, suffix):
        for f, h in self.routes.items():
            if f.endswith(suffix):
                return h

    async def deliver(self, suffix, topic, reply):
        await asyncio.sleep_ms(5)
        self.handler(suffix)(topic.encode(), json.dumps(reply).encode())

    async def publish(self, topic, payload, qos=0):
        body = json.loads(payload)
        self.sent.append([topic, body])
        token = body.get("clientToken")
        if topic == BASE + "start-next":
            self.starts += 1
            n = self.starts
            if n == 1:
                reply = ("rejected", {"code": "RequestThrottled", "clientToken": token})
            elif n == 2:
                return  # lost: the agent must time out and ask again
            elif n == 3:
                reply = ("accepted", {"execution": EXECUTION, "clientToken": token})
                # the cloud's notification of the job being run, twice (a duplicate)
                for _ in range(2):
                    asyncio.create_task(self.deliver(
                        "notify-next", BASE + "notify-next", {"execution": EXECUTION}))
            else:
                reply = ("accepted", {"clientToken": token})
            asyncio.create_task(self.deliver(
                "start-next/+", topic + "/" + reply[0], reply[1]))
        elif topic.endswith("/update"):
            if STARVE and not self.starved and body["status"] != "FAILED":
                self.starved = True  # lost to a MemoryError: no answer, and no session comes back
                self.connected.clear()
                return
            state = {"status": body["status"], "versionNumber": body["expectedVersion"] + 1,
                     "statusDetails": body["statusDetails"]}
            asyncio.create_task(self.deliver("+/update/+", topic + "/accepted",
                                             {"executionState": state, "clientToken": token}))

async def main():
    client = Client()
    watch = connection.JobsWatch(App(), client)
    task = asyncio.create_task(watch.run())
    await asyncio.sleep_ms(4500)
    task.cancel()
    print("DROPPED", watch.agent is None and "jobsagent" not in sys.modules)
    print(json.dumps(client.sent))

asyncio.run(main())
"""


def test_throttled_and_lost_requests_are_retried_with_fresh_tokens_and_duplicates_ignored() -> (
    None
):
    lines = run_mp(SCRIPT, path=(FIRMWARE_DIR, SHIMS_DIR))
    sent = json.loads(lines[-1])
    topics = [topic.rsplit("/jobs/", 1)[1] for topic, _ in sent]
    # throttled, lost, accepted (the job), then nothing pending: no start-next for the duplicate
    assert topics == ["start-next"] * 3 + ["j1/update", "start-next"], topics
    tokens = [body["clientToken"] for _, body in sent]
    assert len(set(tokens)) == len(tokens)
    update = sent[3][1]
    assert update["status"] == "SUCCEEDED" and update["expectedVersion"] == 1
    assert update["statusDetails"] == {"pattern": "identify"}
    assert "LED identify" in lines
    assert "DROPPED True" in lines  # idle again: the agent and its code are gone
    assert "BUSY job True" in lines and lines.index("BUSY job False") > lines.index(
        "BUSY job True"
    )


def test_a_session_that_runs_out_of_heap_during_a_job_fails_it_and_drops_the_agent() -> None:
    """The session is lost to a MemoryError while the agent waits for its update's answer: it
    stops waiting for a session that its own modules keep from coming back, and the watch fails
    the execution (one QoS 1 publish, sent once a session is up) with the agent dropped."""
    lines = run_mp(
        SCRIPT.replace("STARVE = False", "STARVE = True"), path=(FIRMWARE_DIR, SHIMS_DIR)
    )
    sent = json.loads(lines[-1])
    topics = [topic.rsplit("/jobs/", 1)[1] for topic, _ in sent]
    assert topics == ["start-next"] * 3 + ["j1/update", "j1/update"], topics
    assert sent[3][1]["status"] == "SUCCEEDED"  # unanswered: the session was lost under it
    reason = "MemoryError: the session ran out of heap during the job"
    assert sent[4][1] == {"status": "FAILED", "statusDetails": {"reason": reason}}
    assert "DROPPED True" in lines
