"""firmware/outbox.py under CPython: persistence, order, bounds, power-cut leftovers."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "firmware"))
outbox = importlib.import_module("outbox")


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
    box = outbox.Outbox(limit=3)
    for i in range(5):
        box.add("t", str(i))
    assert len(box) == 3
    assert box.oldest()[2] == b"2"  # type: ignore[index]
    errors = [json.loads(line[4:]) for line in capsys.readouterr().out.splitlines()]
    assert [e["code"] for e in errors] == ["outbox_full", "outbox_full"]
    assert all("dropped 1 " in e["msg"] for e in errors)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(["add", "send", "reboot"]), max_size=40), st.integers(1, 6))
def test_model_order_and_bound(ops: list[str], limit: int) -> None:
    import shutil

    shutil.rmtree("outbox.q", ignore_errors=True)
    box = outbox.Outbox(limit=limit)
    model: list[str] = []
    n = 0
    for op in ops:
        if op == "add":
            n += 1
            box.add("t", str(n))
            model.append(str(n))
            del model[:-limit]
        elif op == "send":
            item = box.oldest()
            if model:
                assert item is not None and item[2].decode() == model.pop(0)
                box.remove(item[0])
            else:
                assert item is None
        else:
            box = outbox.Outbox(limit=limit)
        assert len(box) == len(model) <= limit
