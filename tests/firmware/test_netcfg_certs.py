"""firmware/netcfg.py and firmware/certs.py under CPython: validation, atomic multi-file commit,
recovery after a power cut at each step, factory reset."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

from host.paths import FIRMWARE_DIR

sys.path.insert(0, str(FIRMWARE_DIR))
netcfg = importlib.import_module("netcfg")
certs = importlib.import_module("certs")

GOOD = {
    "ssid": "Guest",
    "password": "s3cret-pass",
    "host": "a3t2rr9xsnt91o.iot.us-east-1.amazonaws.com",
    "port": 8883,
}


@pytest.fixture(autouse=True)
def flash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # the firmware's files are relative to the board's flash
    return tmp_path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "AMUN9F6MTZ77O.iot.us-east-1.amazonaws.com",
            ("amun9f6mtz77o.iot.us-east-1.amazonaws.com", 8883),
        ),
        ("localhost:18883", ("localhost", 18883)),
        (" broker.local ", ("broker.local", 8883)),
    ],
)
def test_endpoints_parse(text: str, expected: tuple[str, int]) -> None:
    assert netcfg.parse_endpoint(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "https://x.com", "a..b", "-a.com", "x.com:0", "x.com:99999", "x.com:", "ä.com", "a b"],
)
def test_bad_endpoints_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="endpoint"):
        netcfg.parse_endpoint(text)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ssid": ""}, "ssid"),
        ({"ssid": "x" * 33}, "ssid"),
        ({"password": "short"}, "password"),
        ({"password": "p" * 64}, "password"),
        ({"host": "bad host"}, "endpoint"),
        ({"port": 0}, "endpoint"),
    ],
)
def test_validation_names_the_field_never_the_password(
    change: dict[str, object], field: str
) -> None:
    cfg = {**GOOD, **change}
    errors = netcfg.validate(cfg)
    assert list(errors) == [field]
    assert all(GOOD["password"] not in m and "short" not in m for m in errors.values())
    with pytest.raises(ValueError) as err:
        netcfg.encode(cfg)
    assert "short" not in str(err.value)


def test_open_network_has_an_empty_password() -> None:
    netcfg.save({**GOOD, "password": ""})
    assert netcfg.load() == {**GOOD, "password": ""}
    assert netcfg.summary(netcfg.load())["open"] is True


def test_saved_config_loads_and_summary_hides_the_password() -> None:
    netcfg.save(GOOD)
    assert netcfg.load() == GOOD
    assert GOOD["password"] not in json.dumps(netcfg.summary(netcfg.load()))


def test_corrupt_or_missing_config_loads_as_none(flash: Path) -> None:
    assert netcfg.load() is None
    (flash / netcfg.PATH).write_text('{"ssid": ')
    assert netcfg.load() is None
    (flash / netcfg.PATH).write_text(json.dumps({**GOOD, "ssid": ""}))
    assert netcfg.load() is None


def test_commit_replaces_all_files(flash: Path) -> None:
    certs.commit({certs.CERT: b"c1", certs.KEY: b"k1", netcfg.PATH: b"n1"})
    certs.commit({certs.CERT: b"c2", certs.KEY: b"k2", netcfg.PATH: b"n2"})
    assert (flash / certs.CERT).read_bytes() == b"c2"
    assert (flash / certs.KEY).read_bytes() == b"k2"
    assert (flash / netcfg.PATH).read_bytes() == b"n2"
    assert sorted(p.name for p in flash.rglob("*") if p.is_file()) == [
        "cert.der",
        "key.der",
        "netcfg.json",
    ]
    assert certs.have_identity()


def test_power_cut_before_the_marker_rolls_back(flash: Path) -> None:
    certs.commit({certs.CERT: b"old", certs.KEY: b"oldk"})
    (flash / (certs.CERT + ".new")).write_bytes(b"new")  # staged, marker never written
    assert certs.recover() == "rolled_back"
    assert (flash / certs.CERT).read_bytes() == b"old"
    assert not (flash / (certs.CERT + ".new")).exists()


def test_power_cut_after_the_marker_rolls_forward(flash: Path) -> None:
    certs.commit({certs.CERT: b"old", certs.KEY: b"oldk"})
    (flash / (certs.CERT + ".new")).write_bytes(b"new")
    (flash / (certs.KEY + ".new")).write_bytes(b"newk")
    (flash / certs.COMMIT).write_text(f"{certs.CERT}\n{certs.KEY}")
    (flash / certs.CERT).unlink()  # cut in the middle of the renames: one already gone
    (flash / (certs.CERT + ".new")).rename(flash / certs.CERT)
    assert certs.recover() == "rolled_forward"
    assert (flash / certs.CERT).read_bytes() == b"new"
    assert (flash / certs.KEY).read_bytes() == b"newk"
    assert not (flash / certs.COMMIT).exists()
    assert certs.recover() is None


def test_factory_reset_erases_identity_and_network_but_keeps_settings(flash: Path) -> None:
    certs.commit({certs.CERT: b"c", certs.KEY: b"k", certs.CA: b"a", netcfg.PATH: b"n"})
    (flash / "settings.json").write_text("{}")
    (flash / "serial").write_text("G030JF055364XVRB")
    certs.factory_reset()
    assert not certs.have_identity()
    assert not (flash / certs.CA).exists() and not (flash / netcfg.PATH).exists()
    assert (flash / "settings.json").exists() and (flash / "serial").exists()
