"""firmware/settings.py: defaults, validation per key, atomic persistence, corrupt file at boot."""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from host.paths import FIRMWARE_DIR
from rig.unix_port.process import run_mp

sys.path.insert(0, str(FIRMWARE_DIR))
settings_mod: Any = importlib.import_module("settings")  # the firmware module, run by CPython


def console_events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[4:]) for line in text.splitlines() if line.startswith("EVT ")]


@pytest.fixture
def flash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_defaults_without_a_file(flash: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = settings_mod.Settings()
    s.load()
    assert s.values == settings_mod.DEFAULTS
    assert s["long_ms"] == 1500 and s["topic"] == "iotbutton/{serial}"
    assert console_events(capsys.readouterr().out) == []
    assert not (flash / "settings.json").exists()


def test_apply_persists_atomically_and_tells_listeners(
    flash: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s = settings_mod.Settings()
    heard: list[dict[str, Any]] = []
    s.on_change(heard.append)
    changed, refused = s.apply({"long_ms": 2000, "idle_sleep_s": 30})
    assert changed == {"long_ms": 2000, "idle_sleep_s": 30} and refused == {}
    assert heard == [changed]
    on_flash = json.loads((flash / "settings.json").read_text())
    assert on_flash["schema"] == 1 and on_flash["long_ms"] == 2000
    assert not (flash / "settings.json.tmp").exists()
    assert console_events(capsys.readouterr().out) == [
        {"ev": "settings", "changed": {"long_ms": 2000, "idle_sleep_s": 30}}
    ]
    again = settings_mod.Settings()
    again.load()
    assert again["long_ms"] == 2000 and again["idle_sleep_s"] == 30


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("debounce_ms", True, "must be an integer"),
        ("debounce_ms", "50", "must be an integer"),
        ("debounce_ms", 1, "out of range"),
        ("long_ms", 100000, "out of range"),
        ("double_ms", 40, "out of range"),
        ("idle_sleep_s", -1, "out of range"),
        ("topic", "", "out of range"),
        ("topic", "iot/#", "wildcards"),
        ("topic", "$aws/things/x", "$ topics"),
        ("topic", 5, "must be a string"),
        ("no_such_key", 1, "unknown setting"),
    ],
)
@pytest.mark.usefixtures("flash")
def test_refused_value_keeps_the_old_one(
    capsys: pytest.CaptureFixture[str], key: str, value: Any, reason: str
) -> None:
    s = settings_mod.Settings()
    before = dict(s.values)
    changed, refused = s.apply(
        {key: value, "idle_sleep_s": 5} if key != "idle_sleep_s" else {key: value}
    )
    assert reason in refused[key]
    assert key not in changed
    assert s.values.get(key) == before.get(key)
    events = console_events(capsys.readouterr().out)
    assert {"ev": "settings", "refused": refused} in events


@pytest.mark.usefixtures("flash")
def test_windows_must_exceed_debounce() -> None:
    s = settings_mod.Settings()
    s.apply({"debounce_ms": 150})
    _, refused = s.apply({"double_ms": 120})
    assert refused == {"double_ms": "must exceed debounce_ms"} and s["double_ms"] == 400
    s.apply({"double_ms": 160})
    _, refused = s.apply({"debounce_ms": 170})
    assert refused == {"debounce_ms": "must be below double_ms and long_ms"}


@pytest.mark.usefixtures("flash")
def test_dependent_timings_apply_in_any_key_order() -> None:
    s = settings_mod.Settings()
    s.apply({"debounce_ms": 150})
    changed, refused = s.apply({"double_ms": 160, "debounce_ms": 60})
    assert refused == {} and changed == {"double_ms": 160, "debounce_ms": 60}
    assert s["double_ms"] == 160 and s["debounce_ms"] == 60


@pytest.mark.parametrize(
    "content",
    [
        b'{"schema": 1, "long_ms": ',
        b"\xff\xfe garbage",
        b"[1, 2]",
        b'{"schema": 7, "long_ms": 900}',
    ],
)
def test_corrupt_file_at_boot_gives_defaults_and_an_error(
    flash: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    (flash / "settings.json").write_bytes(content)
    s = settings_mod.Settings()
    s.load()
    assert s.values == settings_mod.DEFAULTS
    events = console_events(capsys.readouterr().out)
    assert [e["code"] for e in events if e["ev"] == "error"] == ["settings_corrupt"]
    assert (flash / "settings.json.bad").read_bytes() == content  # kept for inspection
    s.apply({"long_ms": 1600})  # and the board keeps working
    assert json.loads((flash / "settings.json").read_text())["long_ms"] == 1600


def test_invalid_value_in_file_is_refused_and_the_rest_kept(
    flash: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (flash / "settings.json").write_text(
        json.dumps({"schema": 1, "long_ms": 2500, "double_ms": "x"})
    )
    s = settings_mod.Settings()
    s.load()
    assert s["long_ms"] == 2500 and s["double_ms"] == 400
    assert console_events(capsys.readouterr().out) == [
        {"ev": "settings", "refused": {"double_ms": "must be an integer"}}
    ]


SCENARIO = """
import json, settings
s = settings.Settings()
s.load()
out = [s.values == settings.DEFAULTS]
out.append(s.apply({"long_ms": 2000, "debounce_ms": True, "topic": "a/{serial}", "zz": 1}))
t = settings.Settings()
t.load()
out.append([t["long_ms"], t["topic"], t["debounce_ms"]])
print(json.dumps(out))
"""


def test_same_behaviour_on_the_unix_port(tmp_path: Path) -> None:
    lines = run_mp(SCENARIO, workdir=tmp_path, files={"settings.json": b"{broken"})
    events = [json.loads(line[4:]) for line in lines if line.startswith("EVT ")]
    result = json.loads(lines[-1])
    assert result[0] is True
    changed, refused = result[1]
    assert changed == {"long_ms": 2000, "topic": "a/{serial}"}
    assert set(refused) == {"debounce_ms", "zz"}
    assert result[2] == [2000, "a/{serial}", 50]
    assert events[0]["ev"] == "error" and events[0]["code"] == "settings_corrupt"
    assert (tmp_path / "settings.json.bad").read_bytes() == b"{broken"


VALUES = st.one_of(
    st.integers(-10, 12000), st.booleans(), st.text(max_size=140), st.none(), st.floats()
)
KEYS = st.sampled_from([*settings_mod.RULES, "bogus"])


@hypothesis_settings(max_examples=150, deadline=None)
@given(st.lists(st.dictionaries(KEYS, VALUES, max_size=4), min_size=1, max_size=4))
def test_any_sequence_of_changes_keeps_settings_valid_and_persisted(
    batches: list[dict[str, Any]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            s = settings_mod.Settings()
            with contextlib.redirect_stdout(io.StringIO()):
                for changes in batches:
                    before = dict(s.values)
                    changed, refused = s.apply(changes)
                    assert set(changed) | set(refused) <= set(changes)
                    for key in refused:  # a refused value keeps the old one
                        assert s.values.get(key) == before.get(key)
                    for key, value in changed.items():
                        assert s.values[key] == value and type(value) is type(before[key])
                    assert s["double_ms"] > s["debounce_ms"] < s["long_ms"]
                    if changed:
                        on_flash = json.loads(Path("settings.json").read_text())
                        assert on_flash == {**s.values, "schema": 1}
        finally:
            os.chdir(cwd)
