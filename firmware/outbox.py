# Click outbox: each click message goes to flash before it is sent and leaves only after PUBACK.
#
# One small file per message in outbox/, named by a growing sequence number, written with
# store.write_bytes (temp file, then rename). A power cut at any instant leaves a message either
# absent (not yet renamed: the click was not yet acknowledged to anyone) or complete; a stray
# .tmp is dropped at start. A cut between PUBACK and the removal sends the message again after
# the reboot: the eventId lets the cloud drop the duplicate. Oldest first; bounded: adding to a
# full outbox drops the oldest and reports how many were lost.
import json
import os

import events
import store

DIR = "outbox.q"  # not "outbox": a directory named like a module shadows it on import
MAX = 50


def message(serial, mv, click_type, reported, event_id):
    # the click message (DESIGN.md wire contract); key order as the classic button
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
    def __init__(self, directory=DIR, limit=MAX):
        self.dir = directory
        self.limit = limit
        try:
            os.mkdir(directory)
        except OSError:
            pass
        self._seqs = []
        for name in os.listdir(directory):
            if name.endswith(".msg") and name[:-4].isdigit():
                self._seqs.append(int(name[:-4]))
            else:  # a write cut short by power loss
                os.remove(self._path_of(name))
        self._seqs.sort()

    def _path_of(self, name):
        return self.dir + "/" + name

    def _path(self, seq):
        return self.dir + "/%010d.msg" % seq

    def __len__(self):
        return len(self._seqs)

    def add(self, topic, payload):
        # persist (topic, payload); -> its sequence number
        dropped = 0
        while len(self._seqs) >= self.limit:
            self.remove(self._seqs[0])
            dropped += 1
        if dropped:
            events.error("outbox_full", "outbox full: dropped %d oldest click(s)" % dropped)
        seq = self._seqs[-1] + 1 if self._seqs else 1
        store.write_bytes(self._path(seq), topic.encode() + b"\n" + payload.encode())
        self._seqs.append(seq)
        return seq

    def oldest(self):
        # -> (seq, topic, payload bytes) or None
        while self._seqs:
            seq = self._seqs[0]
            data = store.read_bytes(self._path(seq))
            if data is not None and b"\n" in data:
                topic, _, payload = data.partition(b"\n")
                return seq, topic.decode(), payload
            self._seqs.pop(0)  # unreadable: nothing to send
        return None

    def remove(self, seq):
        try:
            os.remove(self._path(seq))
        except OSError:
            pass
        if seq in self._seqs:
            self._seqs.remove(seq)


class ClickSender:
    # Service: on_click -> outbox; run() -> publish oldest first (QoS 1) whenever MQTT is up.
    def __init__(self, outbox, client, serial, topic, battery_mv, reported_time, show):
        self.outbox = outbox
        self.client = client
        self.serial = serial
        self.topic = topic  # f() -> current topic (settable)
        self.battery_mv = battery_mv  # f() -> int
        self.reported_time = reported_time  # f() -> ISO 8601 string
        self.show = show  # f(led pattern)
        self.busy = None  # f(bool): unsent clicks keep the board awake (app.set_busy)
        self._wake = None

    def on_click(self, event):
        payload = message(
            self.serial, self.battery_mv(), event["type"], self.reported_time(), event["id"]
        )
        self.outbox.add(self.topic(), payload)
        if self._wake:
            self._wake.set()

    async def run(self):
        import asyncio

        self._wake = asyncio.Event()
        while True:
            item = self.outbox.oldest()
            if self.busy:
                self.busy(item is not None)
            if item is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            await self.client.connected.wait()
            seq, topic, payload = item
            await self.client.publish(topic, payload, 1)
            self.outbox.remove(seq)
            events.emit("mqtt", published=topic, seq=seq, left=len(self.outbox))
            self.show("published")
