"""firmware/outbox.py under CPython: persistence, order, bounds and power-cut leftovers."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host.paths import FIRMWARE_DIR

sys.path.insert(0, str(FIRMWARE_DIR))
outbox = importlib.import_module("outbox")


def bounded(limit: int) -> Any:
    """An outbox that holds at most `limit` messages (the tunable Outbox.LIMIT, per instance)."""
    box = outbox.Outbox()
    box.LIMIT = limit
    return box


@pytest.fixture(autouse=True)
def flash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_click_message_has_the_wire_fields_in_order() -> None:
    text = outbox.message("G030JF055364XVRB", 2950, "SINGLE", "2026-11-22T02:34:57.123Z", "00ff")
    assert text.startswith('{"serialNumber":"G030JF055364XVRB","batteryVoltage":"2950mV"')
    assert json.loads(text) == {
        "serialNumber": "G030JF055364XVRB",
        "batteryVoltage": "2950mV",
        "clickType": "SINGLE",
        "reportedTime": "2026-11-22T02:34:57.123Z",
        "eventId": "00ff",
    }


def test_messages_survive_a_restart_and_come_out_oldest_first() -> None:
    box = outbox.Outbox()
    for i in range(3):
        box.add("iotbutton/X", f'{{"n":{i}}}')
    again = outbox.Outbox()  # "after a reboot"
    seen = []
    while (item := again.oldest()) is not None:
        seq, topic, payload = item
        seen.append((topic, payload))
        again.remove(seq)
    assert seen == [("iotbutton/X", b'{"n":%d}' % i) for i in range(3)]
    assert len(outbox.Outbox()) == 0


def test_sequence_numbers_keep_growing_once_the_outbox_has_emptied() -> None:
    box = outbox.Outbox()
    first = box.add("t", "one")
    box.remove(first)
    assert len(box) == 0
    assert box.add("t", "two") == first + 1  # the console's seq does not repeat within a boot
    assert outbox.Outbox().add("t", "three") == first + 2  # a reboot continues after the files


def test_a_write_cut_short_leaves_no_message(flash: Path) -> None:
    box = outbox.Outbox()
    box.add("t", "one")
    (flash / "outbox.q" / "0000000002.msg.tmp").write_bytes(b"t\n{half")  # power cut mid-write
    again = outbox.Outbox()
    assert len(again) == 1
    assert sorted(p.name for p in (flash / "outbox.q").iterdir()) == ["0000000001.msg"]
    assert again.add("t", "two") == 2


def test_full_outbox_drops_the_oldest_and_says_how_many(
    capsys: pytest.CaptureFixture[str],
) -> None:
    box = bounded(3)
    for i in range(5):
        box.add("t", str(i))
    assert len(box) == 3
    assert box.oldest()[2] == b"2"  # type: ignore[index]
    errors = [json.loads(line[4:]) for line in capsys.readouterr().out.splitlines()]
    assert [e["code"] for e in errors] == ["outbox_full", "outbox_full"]
    assert all("dropped 1 " in e["msg"] for e in errors)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.sampled_from(["add", "send", "reboot"]), max_size=40),
    st.integers(1, 6),
)
def test_model_order_and_bound(ops: list[str], limit: int) -> None:
    import shutil

    shutil.rmtree("outbox.q", ignore_errors=True)
    box = bounded(limit)
    model: list[str] = []  # payloads, oldest first
    n = 0
    for op in ops:
        if op == "add":
            n += 1
            box.add("t", str(n))
            model.append(str(n))
            del model[:-limit]
        elif op == "send":  # the oldest goes out and is acknowledged: it leaves the flash
            item = box.oldest()
            if model:
                assert item is not None and item[2].decode() == model[0]
                box.remove(item[0])
                model.pop(0)
            else:
                assert item is None
        else:
            box = bounded(limit)
        assert len(box) == len(model) <= limit
