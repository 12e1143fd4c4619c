"""firmware/outbox.py ClickSender on the unix port: a click leaves the flash at its PUBACK, and a
click that gets none (AWS IoT's answer to a publish the policy denies: no PUBACK, the connection
closed) stays on the flash, keeps the board awake and shows no green.

The MQTT client is a stand-in (`FakeClient`: `connected` event; `publish` returns at the PUBACK,
which arrives once `acking` is set, as mqtt.Client.publish returns only then, across sessions).
Each step waits for what the sender did (an event), never for a guessed delay.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from host.paths import FIRMWARE_DIR
from rig.unix_port.process import run_mp

PRELUDE = """
import asyncio, json, os, sys, time
import outbox

class FakeClient:
    def __init__(self):
        self.connected = asyncio.Event()
        self.acking = asyncio.Event()  # clear: the broker answers no PUBLISH (refused)
        self.acking.set()
        self.log = []  # eventIds published
        self.acks = 0
    async def publish(self, topic, payload, qos):
        await self.connected.wait()
        self.log.append(json.loads(payload)["eventId"])
        await self.acking.wait()  # the PUBACK arrives
        self.acks += 1

def files():
    try:
        return sorted(os.listdir(outbox.DIR))
    except OSError:
        return []

leds = []
busy = []
client = FakeClient()
sender = outbox.ClickSender(outbox.Outbox(), client, "G030JF055364XVRB", lambda: "iotbutton/G030JF055364XVRB",
                            lambda: 3000, lambda: "2026-11-22T02:34:57.141Z", leds.append)
sender.busy = busy.append

async def until(done, what, timeout_ms=5000):
    t0 = time.ticks_ms()
    while not done():
        assert time.ticks_diff(time.ticks_ms(), t0) < timeout_ms, what
        await asyncio.sleep_ms(5)

async def sent(n):
    # the n-th publish (since start) was acknowledged and the sender has taken it in
    await until(lambda: client.acks >= n, "publish %d" % n)
    await asyncio.sleep_ms(0)

def out(step, **kw):
    kw.update(step=step, files=len(files()), waiting=len(sender.outbox),
              busy=busy[-1] if busy else None, leds=leds[:], sent=client.log[:])
    print("STEP " + json.dumps(kw))
"""


def _run(body: str, tmp_path: Path) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """-> the script's STEP records by name, and its console events."""
    lines = run_mp(PRELUDE + body, path=(FIRMWARE_DIR,), workdir=tmp_path)
    steps: dict[str, dict[str, Any]] = {}
    for line in lines:
        if line.startswith("STEP "):
            step = json.loads(line[5:])
            steps[step.pop("step")] = step
    return steps, [json.loads(line[4:]) for line in lines if line.startswith("EVT ")]


def test_an_acknowledged_click_leaves_the_flash_at_its_puback(tmp_path: Path) -> None:
    steps, events = _run(
        """
async def main():
    asyncio.create_task(sender.run())
    client.connected.set()
    sender.on_click({"type": "SINGLE", "id": "a1"})
    await sent(1)
    out("acked")
asyncio.run(main())
""",
        tmp_path,
    )
    # a PUBACK means the broker took it (a refused publish gets none): off the flash at once,
    # green, and nothing left to keep the board awake
    assert steps["acked"] == {
        "files": 0,
        "waiting": 0,
        "busy": False,
        "leds": ["published"],
        "sent": ["a1"],
    }
    published = [e for e in events if "published" in e]
    assert published == [
        {"ev": "mqtt", "published": "iotbutton/G030JF055364XVRB", "seq": 1, "left": 0}
    ]


def test_a_click_without_puback_stays_on_the_flash_awake_and_not_green(tmp_path: Path) -> None:
    steps, _ = _run(
        """
async def main():
    client.acking.clear()  # refused: the broker closes the session, no PUBACK
    asyncio.create_task(sender.run())
    client.connected.set()
    sender.on_click({"type": "SINGLE", "id": "b1"})
    sender.on_click({"type": "DOUBLE", "id": "b2"})
    await until(lambda: client.log, "sent")
    await asyncio.sleep_ms(50)
    out("unanswered")
    client.acking.set()  # a policy allows it now: the PUBACK comes
    await sent(2)
    out("allowed")
asyncio.run(main())
""",
        tmp_path,
    )
    unanswered = steps["unanswered"]
    assert (unanswered["files"], unanswered["waiting"], unanswered["busy"]) == (2, 2, True)
    assert unanswered["leds"] == [] and unanswered["sent"] == ["b1"]  # oldest first, in order
    allowed = steps["allowed"]
    assert (allowed["files"], allowed["busy"]) == (0, False)
    assert allowed["leds"] == ["published", "published"]
    assert allowed["sent"] == ["b1", "b2"]


def test_a_power_cut_before_the_puback_sends_the_click_again(tmp_path: Path) -> None:
    first, _ = _run(
        """
async def main():
    client.acking.clear()
    asyncio.create_task(sender.run())
    client.connected.set()
    sender.on_click({"type": "SINGLE", "id": "e1"})
    await until(lambda: client.log, "sent")
    out("unanswered")
    sys.exit(0)  # power cut: only the flash remains
asyncio.run(main())
""",
        tmp_path,
    )
    assert first["unanswered"]["files"] == 1
    again, _ = _run(
        """
async def main():
    asyncio.create_task(sender.run())
    client.connected.set()
    out("booted")
    await sent(1)
    out("acked")
asyncio.run(main())
""",
        tmp_path,
    )
    assert again["booted"]["waiting"] == 1
    assert again["acked"]["sent"] == ["e1"] and again["acked"]["files"] == 0
