"""firmware/clock.py (reportedTime) under CPython, and firmware/outbox.py + clock.py on the unix port."""

from __future__ import annotations

import importlib
import json
import re
import struct
import sys
import time
from pathlib import Path

import pytest

from host.paths import FIRMWARE_DIR
from rig.unix_port.process import run_mp

sys.path.insert(0, str(FIRMWARE_DIR))

clock = importlib.import_module("clock")


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1795314897141, "2026-11-22T02:34:57.141Z"),
        (951782400999, "2000-02-29T00:00:00.999Z"),
    ],
)
def test_iso_8601_utc_with_milliseconds(ms: int, text: str) -> None:
    assert clock.iso(ms) == text


def test_ntp_reply_gives_unix_seconds() -> None:
    reply = bytearray(48)
    reply[0] = 0x24  # LI 0, version 4, mode 4 (server)
    struct.pack_into("!I", reply, 40, 1795314897 + clock.NTP_DELTA)
    assert clock.ntp_seconds(bytes(reply)) == 1795314897
    with pytest.raises(ValueError):
        clock.ntp_seconds(bytes(clock.ntp_request()))  # a client packet is not a reply
    with pytest.raises(ValueError):
        clock.ntp_seconds(b"\x24" + bytes(20))


def test_on_the_unix_port_the_clock_is_trusted_and_clicks_are_stamped(tmp_path: Path) -> None:
    src = """
import asyncio, clock, json, outbox
async def main():
    synced = await clock.sync("ntp.invalid")  # a valid clock needs no NTP (and no network)
    box = outbox.Outbox()
    box.add("iotbutton/G030JF055364XVRB", outbox.message("G030JF055364XVRB", 3010, "DOUBLE", clock.iso_now(), "0a1b2c3d4e5f6071"))
    seq, topic, payload = box.oldest()
    print(json.dumps([synced, clock.valid(), topic, json.loads(payload)]))
asyncio.run(main())
"""
    before = time.time()
    synced, valid, topic, msg = json.loads(run_mp(src, path=(FIRMWARE_DIR,), workdir=tmp_path)[-1])
    assert (synced, valid, topic) == (False, True, "iotbutton/G030JF055364XVRB")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", msg["reportedTime"])
    stamped = (
        time.mktime(time.strptime(msg["reportedTime"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    )
    assert before - 2 <= stamped <= time.time() + 2
    assert msg["batteryVoltage"] == "3010mV" and msg["clickType"] == "DOUBLE"
    assert [p.name for p in (tmp_path / "outbox.q").iterdir()] == ["0000000001.msg"]
