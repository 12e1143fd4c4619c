# Click outbox: each click message goes to flash before it is sent and leaves at its PUBACK.
#
# One small file per message in outbox.q/, named by a growing sequence number, written with
# store.write_bytes (temp file, then rename). A power cut at any instant leaves a message either
# absent (not yet renamed: the click was not yet acknowledged to anyone) or complete; a stray
# .tmp is dropped at start. A cut between PUBACK and the removal sends the message again after
# the reboot: the eventId lets the cloud drop the duplicate. Oldest first; bounded: adding to a
# full outbox drops the oldest and reports how many were lost.
#
# A PUBACK is the broker's acceptance: AWS IoT answers a publish the policy denies by closing the
# connection without one (docs/connectivity-integration.md, Decisions). So a click is kept until
# its PUBACK and no longer: an unanswered click is sent again on the next session (mqtt.Client),
# and two closes right after it make the session `forbidden` (mqtt.Client._refusal).
import json
import os

import events
import stall
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
        # messages on the flash: not yet acknowledged
        return len(self._seqs)

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
        # -> (seq, topic, payload bytes) of the oldest message, or None
        while self._seqs:
            seq = self._seqs[0]
            data = store.read_bytes(self._path(seq))
            if data is not None and b"\n" in data:
                topic, _, payload = data.partition(b"\n")
                return seq, topic.decode(), payload
            self._seqs.pop(0)  # unreadable: nothing to send
        return None

    def remove(self, seq):
        stall.begin()  # a flash commit: a blocking call
        try:
            os.remove(self._path(seq))
        except OSError:
            pass
        finally:
            stall.end()
        if seq in self._seqs:
            self._seqs.remove(seq)


class ClickSender:
    # Service: on_click -> outbox; run() -> publish oldest first (QoS 1) whenever MQTT is up; a
    # click leaves the flash at its PUBACK (mqtt.Client.publish returns then, across sessions).
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
        box = self.outbox
        while True:
            item = box.oldest()
            if self.busy:
                self.busy(item is not None)
            if item is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            await self.client.connected.wait()
            seq, topic, payload = item
            await self.client.publish(topic, payload, 1)
            box.remove(seq)
            events.emit("mqtt", published=topic, seq=seq, left=len(box))
            self.show("published")
