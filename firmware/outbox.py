# Click outbox: each click message goes to flash before it is sent and leaves only after PUBACK
# and a grace period (ClickSender.GRACE_MS) in which the session stayed up.
#
# One small file per message in outbox.q/, named by a growing sequence number, written with
# store.write_bytes (temp file, then rename). A power cut at any instant leaves a message either
# absent (not yet renamed: the click was not yet acknowledged to anyone) or complete; a stray
# .tmp is dropped at start. A cut between PUBACK and the removal sends the message again after
# the reboot: the eventId lets the cloud drop the duplicate. Oldest first; bounded: adding to a
# full outbox drops the oldest and reports how many were lost.
#
# Why the grace (docs/connectivity-integration.md, Decisions): a broker may acknowledge a publish
# it then drops because the policy denies it (mosquitto's ACL); the cloud then closes the
# connection (AWS IoT closes it without a PUBACK). So an acknowledged click stays on the flash
# ("held", in RAM only) for ClickSender.GRACE_MS; if the session ends meanwhile it is sent again
# on the next one (same eventId: the cloud keeps it once). The server closing the session right
# after a click's PUBACK ClickSender.REFUSED_AFTER times in a row means it refuses the click:
# `forbidden`.
import json
import os
import time

import events
import store

DIR = "outbox.q"  # not "outbox": a directory named like a module shadows it on import


def message(serial, mv, click_type, reported, event_id):
    # the click message (docs/contracts.md); key order as the classic button
    return (
        '{"serialNumber":%s,"batteryVoltage":"%dmV","clickType":%s,"reportedTime":%s,"eventId":%s}'
        % (
            json.dumps(serial),
            mv,
            json.dumps(click_type),
            json.dumps(reported),
            json.dumps(event_id),
        )
    )


class Outbox:
    LIMIT = 50  # messages on the flash; adding one more drops the oldest

    def __init__(self, directory=DIR):
        self.dir = directory
        try:
            os.mkdir(directory)
        except OSError:
            pass
        self._seqs = []
        self._held = set()  # acknowledged, kept until settled or requeued (RAM: a reboot resends)
        for name in os.listdir(directory):
            if name.endswith(".msg") and name[:-4].isdigit():
                self._seqs.append(int(name[:-4]))
            else:  # a write cut short by power loss
                os.remove(self._path_of(name))
        self._seqs.sort()
        # numbers keep growing while the board runs, also once the outbox has emptied (the
        # console's `seq` never repeats within a boot); a reboot continues after the files left
        self._next = self._seqs[-1] + 1 if self._seqs else 1

    def _path_of(self, name):
        return self.dir + "/" + name

    def _path(self, seq):
        return self.dir + "/%010d.msg" % seq

    def __len__(self):
        # messages on the flash, held ones included
        return len(self._seqs)

    def waiting(self):
        # messages not yet acknowledged
        return len(self._seqs) - len(self._held)

    def add(self, topic, payload):
        # persist (topic, payload); -> its sequence number
        dropped = 0
        while len(self._seqs) >= self.LIMIT:
            self.remove(self._seqs[0])
            dropped += 1
        if dropped:
            events.error("outbox_full", "outbox full: dropped %d oldest click(s)" % dropped)
        seq = self._next
        store.write_bytes(self._path(seq), topic.encode() + b"\n" + payload.encode())
        self._seqs.append(seq)
        self._next = seq + 1
        return seq

    def oldest(self):
        # -> (seq, topic, payload bytes) of the oldest message not held, or None
        i = 0
        while i < len(self._seqs):
            seq = self._seqs[i]
            if seq in self._held:
                i += 1
                continue
            data = store.read_bytes(self._path(seq))
            if data is not None and b"\n" in data:
                topic, _, payload = data.partition(b"\n")
                return seq, topic.decode(), payload
            self._seqs.pop(i)  # unreadable: nothing to send
        return None

    def hold(self, seq):
        # acknowledged: stays on the flash, not sent again unless requeued
        if seq in self._seqs:
            self._held.add(seq)

    def requeue(self, seq):
        # to be sent again (oldest first, so before anything newer)
        self._held.discard(seq)

    def remove(self, seq):
        try:
            os.remove(self._path(seq))
        except OSError:
            pass
        if seq in self._seqs:
            self._seqs.remove(seq)
        self._held.discard(seq)


class ClickSender:
    # Service: on_click -> outbox; run() -> publish oldest first (QoS 1) whenever MQTT is up;
    # an acknowledged click leaves the flash once the session stayed up GRACE_MS after its
    # PUBACK. session_ended() (services.Connection) sends the others again.
    GRACE_MS = 2000  # an acknowledged click stays on the flash this long with the session up
    REFUSED_AFTER = 2  # server closes in a row right after a click's PUBACK: it refuses clicks

    def __init__(self, outbox, client, serial, topic, battery_mv, reported_time, show):
        self.outbox = outbox
        self.client = client
        self.serial = serial
        self.topic = topic  # f() -> current topic (settable)
        self.battery_mv = battery_mv  # f() -> int
        self.reported_time = reported_time  # f() -> ISO 8601 string
        self.show = show  # f(led pattern)
        self.busy = None  # f(bool): unsent or held clicks keep the board awake (app.set_busy)
        self.strikes = 0  # server closes in a row within GRACE_MS of a click's PUBACK
        self._acked = []  # [seq, ticks_ms of its PUBACK], oldest first
        self._wake = None
        self._holding = None

    def on_click(self, event):
        payload = message(
            self.serial, self.battery_mv(), event["type"], self.reported_time(), event["id"]
        )
        self.outbox.add(self.topic(), payload)
        if self._wake:
            self._wake.set()

    def session_ended(self, by_server):
        # The MQTT session is over (by_server: the broker closed it, not a lost link or a time-out).
        # Clicks acknowledged in it less than GRACE_MS ago are sent again. -> True when the
        # broker closed it right after a click's PUBACK REFUSED_AFTER times in a row: refused.
        n = len(self._acked)
        if not n:
            return False
        for seq, _ in self._acked:
            self.outbox.requeue(seq)
        self._acked = []
        events.emit("outbox", requeued=n, n=self.outbox.waiting())
        if self._wake:
            self._wake.set()
        if not by_server:
            return False
        self.strikes += 1
        return self.strikes >= self.REFUSED_AFTER

    def _settle(self):
        # Held clicks whose PUBACK is GRACE_MS old, the session still up, leave the flash.
        # -> ms until the next one is due, or None
        if not self.client.connected.is_set():
            return None
        now = time.ticks_ms()
        while self._acked:
            seq, t = self._acked[0]
            left = self.GRACE_MS - time.ticks_diff(now, t)
            if left > 0:
                return left
            self._acked.pop(0)
            self.outbox.remove(seq)
            if self.strikes:  # it got through: the broker accepts clicks (again)
                self.strikes = 0
                self.show("published")
        return None

    def _report_busy(self):
        if self.busy:
            self.busy(self.outbox.waiting() > 0 or bool(self._acked))

    async def _settler(self):
        # Its own task, so the sender waits for clicks only (no time-out to set up per click).
        import asyncio

        while True:
            await self._holding.wait()  # type: ignore[union-attr]
            due = self._settle()
            if due is None:  # none held, or the session is over (session_ended sends them)
                self._holding.clear()  # type: ignore[union-attr]
                self._report_busy()
            else:
                await asyncio.sleep_ms(due)

    async def run(self):
        import asyncio

        self._wake = asyncio.Event()
        self._holding = asyncio.Event()  # set while clicks are held
        asyncio.create_task(self._settler())
        box = self.outbox
        while True:
            item = box.oldest()
            self._report_busy()
            if item is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            await self.client.connected.wait()
            seq, topic, payload = item
            await self.client.publish(topic, payload, 1)
            if self.client.connected.is_set():
                box.hold(seq)
                self._acked.append([seq, time.ticks_ms()])
                self._holding.set()
            # else the session ended right after the PUBACK (session_ended already ran): the
            # click stays unsent and goes out again
            events.emit("mqtt", published=topic, seq=seq, left=box.waiting())
            if not self.strikes:  # while clicks are being refused, green waits for _settle
                self.show("published")
