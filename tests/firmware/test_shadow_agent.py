"""firmware/shadowagent.py's logic on the unix port (no broker): the guide's Message Order rule
(a get or delta not newer than the last applied is ignored), refusals, and what a report holds.
End to end: tests/e2e/test_shadow_agent_e2e.py."""

from __future__ import annotations

import json
from typing import Any

from host.paths import FIRMWARE_DIR, SHIMS_DIR
from rig.unix_port.process import run_mp

HARNESS = """
import asyncio, json
import settings, shadowagent
class Client:
    connected = asyncio.Event()
    def __init__(self):
        self.on_up = []
class App:
    serial = "G030JF055364XVRB"
    counts = {"single": 1, "double": 0, "long": 0}
    def __init__(self):
        self.settings = settings.Settings()
    def battery_mv(self):
        return 2900
agent = shadowagent.Agent(App(), Client(), lambda: -61)
def show(tag):
    print("OUT", tag, json.dumps({"version": agent.version, "double_ms": agent.app.settings["double_ms"],
        "refused": agent.refused, "force": sorted(agent.force)}))
"""


def run(script: str) -> list[dict[str, Any]]:
    lines = run_mp(HARNESS + script, path=(FIRMWARE_DIR, SHIMS_DIR))
    return [json.loads(line.split(" ", 2)[2]) for line in lines if line.startswith("OUT ")]


def test_a_delta_not_newer_than_the_last_applied_is_ignored() -> None:
    got = run(
        """
agent.handle("update/delta", {"version": 12, "state": {"double_ms": 700}})
show("v12")
agent.handle("update/delta", {"version": 11, "state": {"double_ms": 300}})  # arrived late
show("v11")
agent.handle("update/delta", {"version": 12, "state": {"double_ms": 300}})  # same version again
show("v12again")
agent.handle("get/accepted", {"version": 10, "state": {"delta": {"double_ms": 200}}})
show("get10")
agent.handle("update/delta", {"version": 13, "state": {"double_ms": 800}})
show("v13")
"""
    )
    assert [(g["version"], g["double_ms"]) for g in got] == [
        (12, 700),
        (12, 700),
        (12, 700),
        (12, 700),
        (13, 800),
    ]


def test_a_refused_value_is_kept_out_and_named_until_a_delta_without_it() -> None:
    got = run(
        """
agent.handle("get/accepted", {"version": 3, "state": {"delta": {"double_ms": 5000, "long_ms": 1200, "fw": "9"}}})
show("refused")
agent.handle("update/delta", {"version": 5, "state": {"double_ms": 600}})
show("fixed")
agent.handle("get/accepted", {"version": 6, "state": {"desired": {"double_ms": 600}}})
show("nodelta")
"""
    )
    assert got[0]["double_ms"] == 400 and got[0]["refused"] == {
        "double_ms": "out of range 100..2000",
        "fw": "unknown setting",
    }
    assert got[0]["force"] == ["long_ms"]  # reported even if it were unchanged: the delta clears
    assert got[1]["double_ms"] == 600 and got[1]["refused"] == {}
    assert got[2]["refused"] == {} and got[2]["version"] == 6


def test_the_first_report_is_whole_and_later_ones_only_what_changed() -> None:
    got = run(
        """
full = agent.state(True)
print("OUT full", json.dumps(full))
sent = dict(full)
agent.app.counts["double"] += 1
print("OUT later", json.dumps(shadowagent.report_of(agent.state(False), sent, set())))
print("OUT forced", json.dumps(shadowagent.report_of(agent.state(False), agent.state(False), {"double_ms"})))
"""
    )
    full, later, forced = got
    assert full["fw"] == "0.1.0" and full["battery_mv"] == 2900 and full["rssi"] == -61
    assert full["double_ms"] == 400 and full["clicks"]["single"] == 1
    assert full["settings_refused"] is None and full["heap_free"] > 0
    assert len(json.dumps({"state": {"reported": full}})) < 1024  # far below the 8 KB limit
    assert later == {"clicks": {"single": 1, "double": 1, "long": 0}}
    assert forced == {"double_ms": 400}


def test_an_unanswered_get_is_not_an_error_and_is_asked_again_until_answered() -> None:
    # e.g. the broker is back before the cloud's own client: nobody answers for a while
    lines = run_mp(
        HARNESS
        + """
shadowagent._GET_WAIT_MS = 200
shadowagent._GET_RETRY_MS = 300
sent = []
async def publish(topic, payload, qos=0):
    sent.append(topic.rsplit("/", 1)[-1])
async def route(topic_filter, handler, qos=1):
    pass
Client.publish = staticmethod(publish)
Client.route = staticmethod(route)
agent.client.connected.set()
agent.app.set_busy = lambda name, busy=True: None
async def main():
    task = asyncio.create_task(agent.run())
    await asyncio.sleep_ms(1200)
    print("OUT asked", json.dumps(sent))
    agent._message(("%sget/accepted" % agent.base).encode(), b'{"version": 4, "state": {}}')
    await asyncio.sleep_ms(1200)
    print("OUT answered", json.dumps(sent))
    task.cancel()
asyncio.run(main())
""",
        path=(FIRMWARE_DIR, SHIMS_DIR),
    )
    out = {
        line.split(" ")[1]: json.loads(line.split(" ", 2)[2]) for line in lines if "OUT " in line
    }
    assert '"get":"no answer"' in "\n".join(lines)
    assert not [line for line in lines if '"ev":"error"' in line], lines
    asked = out["asked"]
    assert asked[:2] == ["get", "update"] and asked.count("get") >= 2, asked  # reported anyway
    assert out["answered"].count("get") == asked.count("get") or (
        out["answered"].count("get") == asked.count("get") + 1  # one in flight at the answer
    ), out


def test_sessions_that_end_before_the_get_is_answered_stop_the_agent() -> None:
    # AWS IoT closes the session on a publish the policy denies: the get, each session
    lines = run_mp(
        HARNESS
        + """
shadowagent._GET_WAIT_MS = 100
routes = []
async def publish(topic, payload, qos=0):
    pass
async def route(topic_filter, handler, qos=1):
    routes.append(topic_filter)
async def unroute(topic_filter):
    routes.remove(topic_filter)
Client.publish = staticmethod(publish)
Client.route = staticmethod(route)
Client.unroute = staticmethod(unroute)
agent.client.connected.set()
agent.app.set_busy = lambda name, busy=True: None
async def main():
    task = asyncio.create_task(agent.run())
    for _ in range(3):
        await asyncio.sleep_ms(300)
        for up in agent.client.on_up:  # a new session: the last one ended with the get unanswered
            up()
    await asyncio.sleep_ms(300)
    print("OUT done", json.dumps({"ended": task.done(), "routes": routes}))
asyncio.run(main())
""",
        path=(FIRMWARE_DIR, SHIMS_DIR),
    )
    done = next(json.loads(line.split(" ", 2)[2]) for line in lines if line.startswith("OUT "))
    assert done == {"ended": True, "routes": []}, lines
    errors = [line for line in lines if '"ev":"error"' in line]
    assert len(errors) == 1 and "no shadow until reboot" in errors[0], lines


def test_a_burst_of_clicks_is_reported_once_and_keeps_the_board_awake_until_then() -> None:
    """One shadow update a burst, not one a click (each is a message the account pays for), and
    "shadow" busy from the first click until that report; after the agent gave up, a click
    leaves nothing busy (a board that could never sleep again)."""
    lines = run_mp(
        HARNESS
        + """
shadowagent._COUNTS_MS = 300
shadowagent._GET_WAIT_MS = 100  # nobody answers the get here: the session's report goes out
sent = []
async def publish(topic, payload, qos=0):
    sent.append([topic.rsplit("/", 1)[-1], json.loads(payload)])
async def route(topic_filter, handler, qos=1):
    pass
async def unroute(topic_filter):
    pass
Client.publish = staticmethod(publish)
Client.route = staticmethod(route)
Client.unroute = staticmethod(unroute)
busy = set()
agent.app.set_busy = lambda name, busy_=True: (busy.add if busy_ else busy.discard)(name)
async def main():
    task = asyncio.create_task(agent.run())
    agent.client.connected.set()
    await asyncio.sleep_ms(300)  # the session's whole report
    before = len(sent)
    for _ in range(3):
        agent.app.counts["single"] += 1
        agent.on_click({})
        await asyncio.sleep_ms(50)
    print("OUT during", json.dumps({"busy": sorted(busy), "updates": [t for t, _ in sent[before:]].count("update")}))
    await asyncio.sleep_ms(500)
    print("OUT after", json.dumps({"busy": sorted(busy), "updates": sent[before:]}))
    task.cancel()
    await agent._give_up("test")
    agent.on_click({})
    await asyncio.sleep_ms(400)
    print("OUT off", json.dumps({"busy": sorted(busy)}))
asyncio.run(main())
""",
        path=(FIRMWARE_DIR, SHIMS_DIR),
    )
    out = {
        line.split(" ")[1]: json.loads(line.split(" ", 2)[2]) for line in lines if "OUT " in line
    }
    assert out["during"] == {"busy": ["shadow"], "updates": 0}, out
    assert out["after"]["busy"] == [], out
    assert [body["state"]["reported"] for t, body in out["after"]["updates"] if t == "update"] == [
        {"clicks": {"single": 4, "double": 0, "long": 0}}
    ], out
    assert out["off"] == {"busy": []}, out
