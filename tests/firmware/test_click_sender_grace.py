"""firmware/outbox.py ClickSender on the unix port: an acknowledged click stays on the flash for
the grace period, is sent again when the session ends inside it, and the broker closing the
session right after a click's PUBACK twice in a row is reported as a refusal.

The MQTT client is a stand-in (`FakeClient`: `connected` event, `publish` acknowledges at once);
the session ends are played by the script the way services.Connection reports them. Each step
waits for what the sender did (an event), never for a guessed delay, except the grace itself.
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
outbox.ClickSender.GRACE_MS = 600  # shorter than the firmware's 2 s: the same logic, a quicker test

class FakeClient:
    def __init__(self):
        self.connected = asyncio.Event()
        self.log = []  # eventIds published
        self.acks = 0
    async def publish(self, topic, payload, qos):
        await self.connected.wait()
        self.log.append(json.loads(payload)["eventId"])
        await asyncio.sleep_ms(0)  # the PUBACK arrives
        self.acks += 1  # last: the sender holds the click before any other task runs

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
    # the n-th publish (since start) was acknowledged
    await until(lambda: client.acks >= n, "publish %d" % n)

async def settled():
    await until(lambda: not files(), "settled")

def out(step, **kw):
    kw.update(step=step, files=len(files()), waiting=sender.outbox.waiting(), strikes=sender.strikes,
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


def test_an_acknowledged_click_stays_on_the_flash_for_the_grace_then_leaves(
    tmp_path: Path,
) -> None:
    steps, events = _run(
        """
async def main():
    asyncio.create_task(sender.run())
    client.connected.set()
    sender.on_click({"type": "SINGLE", "id": "a1"})
    await sent(1)
    out("acked")
    await settled()
    await asyncio.sleep_ms(50)
    out("settled")
asyncio.run(main())
""",
        tmp_path,
    )
    # acknowledged: green at once, still on the flash and keeping the board awake
    assert steps["acked"] == {
        "files": 1,
        "waiting": 0,
        "strikes": 0,
        "busy": True,
        "leds": ["published"],
        "sent": ["a1"],
    }
    assert steps["settled"]["files"] == 0 and steps["settled"]["busy"] is False
    assert steps["settled"]["sent"] == ["a1"]  # sent once
    published = [e for e in events if "published" in e]
    assert published == [
        {"ev": "mqtt", "published": "iotbutton/G030JF055364XVRB", "seq": 1, "left": 0}
    ]


def test_closed_by_the_broker_right_after_the_puback_twice_is_a_refusal_and_the_click_stays(
    tmp_path: Path,
) -> None:
    steps, events = _run(
        """
async def main():
    asyncio.create_task(sender.run())
    client.connected.set()
    sender.on_click({"type": "SINGLE", "id": "b1"})
    await sent(1)
    client.connected.clear()  # the broker closes the session (the cloud's disconnect)
    first = sender.session_ended(True)
    out("first close", refused=first)
    await asyncio.sleep_ms(outbox.ClickSender.GRACE_MS + 200)  # no session: nothing settles meanwhile
    out("offline past the grace")
    client.connected.set()  # the next session: the click goes out again
    await sent(2)
    out("resent")
    client.connected.clear()
    second = sender.session_ended(True)
    out("second close", refused=second)
    client.connected.set()
    await sent(3)
    client.connected.clear()
    third = sender.session_ended(True)
    out("third close", refused=third)
    client.connected.set()  # the policy allows it now: the session stays up
    await sent(4)
    out("allowed")
    await settled()
    await asyncio.sleep_ms(50)
    out("settled")
asyncio.run(main())
""",
        tmp_path,
    )
    first = steps["first close"]
    assert first["refused"] is False and first["strikes"] == 1  # once may be a broker restart
    assert (first["files"], first["waiting"], first["busy"]) == (1, 1, True)
    assert steps["offline past the grace"]["files"] == 1  # never settled without a session
    assert steps["resent"]["sent"] == ["b1", "b1"]  # the same click (eventId) again
    assert steps["resent"]["leds"] == ["published"]  # no green while suspected of refusal
    assert steps["second close"]["refused"] is True and steps["second close"]["files"] == 1
    assert steps["third close"]["refused"] is True and steps["third close"]["strikes"] == 3
    assert steps["allowed"]["files"] == 1 and steps["allowed"]["leds"] == ["published"]
    settled = steps["settled"]
    assert (settled["files"], settled["strikes"], settled["busy"]) == (0, 0, False)
    assert settled["leds"] == ["published", "published"]  # green once it got through
    assert settled["sent"] == ["b1"] * 4
    requeued = [e for e in events if "requeued" in e]
    assert requeued == [{"ev": "outbox", "requeued": 1, "n": 1}] * 3


def test_a_lost_link_sends_the_click_again_but_is_no_refusal(tmp_path: Path) -> None:
    steps, _ = _run(
        """
async def main():
    asyncio.create_task(sender.run())
    client.connected.set()
    sender.on_click({"type": "SINGLE", "id": "c1"})
    await sent(1)
    client.connected.clear()
    out("link lost", refused=sender.session_ended(False))
    client.connected.set()
    await sent(2)
    client.connected.clear()
    out("closed by the broker", refused=sender.session_ended(True))
    client.connected.set()
    await sent(3)
    client.connected.clear()
    out("link lost again", refused=sender.session_ended(False))
asyncio.run(main())
""",
        tmp_path,
    )
    assert steps["link lost"] == {
        "refused": False,
        "files": 1,
        "waiting": 1,
        "strikes": 0,
        "busy": True,
        "leds": ["published"],
        "sent": ["c1"],
    }
    assert steps["closed by the broker"]["refused"] is False
    assert steps["closed by the broker"]["strikes"] == 1
    assert steps["link lost again"]["refused"] is False  # only the broker's closes count
    assert steps["link lost again"]["sent"] == ["c1"] * 3


def test_a_session_ending_after_the_grace_sends_nothing_again(tmp_path: Path) -> None:
    steps, events = _run(
        """
async def main():
    asyncio.create_task(sender.run())
    client.connected.set()
    sender.on_click({"type": "SINGLE", "id": "d1"})
    await sent(1)
    await settled()
    client.connected.clear()
    out("closed after the grace", refused=sender.session_ended(True))
    client.connected.set()
    sender.on_click({"type": "LONG", "id": "d2"})
    await sent(2)
    out("next click")
asyncio.run(main())
""",
        tmp_path,
    )
    late = steps["closed after the grace"]
    assert (late["refused"], late["strikes"], late["files"]) == (False, 0, 0)
    assert steps["next click"]["sent"] == ["d1", "d2"]
    assert not [e for e in events if "requeued" in e]


def test_a_reboot_inside_the_grace_sends_the_held_click_again(tmp_path: Path) -> None:
    first, _ = _run(
        """
async def main():
    asyncio.create_task(sender.run())
    client.connected.set()
    sender.on_click({"type": "SINGLE", "id": "e1"})
    sender.on_click({"type": "DOUBLE", "id": "e2"})
    await sent(1)
    await sent(2)
    out("acked")
    sys.exit(0)  # power cut inside the grace: only the flash remains
asyncio.run(main())
""",
        tmp_path,
    )
    assert first["acked"]["files"] == 2 and first["acked"]["waiting"] == 0
    again, _ = _run(
        """
async def main():
    asyncio.create_task(sender.run())
    client.connected.set()
    out("booted")
    await sent(1)
    await sent(2)
    await settled()
    out("settled")
asyncio.run(main())
""",
        tmp_path,
    )
    assert again["booted"]["waiting"] == 2
    assert again["settled"]["sent"] == ["e1", "e2"]  # oldest first; the cloud drops the copies
    assert again["settled"]["files"] == 0
