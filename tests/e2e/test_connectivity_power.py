"""Power cuts (the board process SIGKILLed) at random instants while the firmware writes its
outbox, its certificates and its settings: no file is ever corrupt, no click is lost once the console said it
was stored (`outbox` `stored`), and none reaches the cloud twice."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from connectivity_kit import WAIT_S, assert_no_leaks, connected, emulated, run_logs

from rig import gestures
from rig.cloud.clicks.store import ClickLog
from rig.cloud.runtime import CloudRuntime
from rig.drivers.emulated import EmulatedBoard
from rig.pytest_plugin.boards import BoardFactory
from rig.strategies.provisioning import FilePart, Page, enter_config_mode

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CLICK_CUTS = 8
CERT_CUTS = 4


def outbox_files_are_whole(flash: Path) -> list[str]:
    """Every message file in the outbox is complete (topic line + a JSON click message). Stray
    `.tmp` files may be partial: the firmware drops them at boot. Returns the eventIds."""
    ids = []
    for path in sorted((flash / "outbox.q").glob("*")):
        if path.name.endswith(".tmp"):
            continue
        assert path.name.endswith(".msg"), f"unexpected file in the outbox: {path.name}"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue  # a running board sent it and removed it since the listing
        topic, sep, payload = data.partition(b"\n")
        assert sep and topic.startswith(b"iotbutton/"), f"{path.name}: {data!r}"
        ids.append(json.loads(payload)["eventId"])
    return ids


def restart(board: EmulatedBoard) -> None:
    board.start()
    board.expect("boot", WAIT_S, reset="power")
    board.expect("mqtt", WAIT_S, state="up")


def test_power_cut_while_clicks_are_written_loses_no_stored_click(
    boards: BoardFactory, cloud_runtime: CloudRuntime
) -> None:
    board, setup = connected(boards, cloud_runtime)
    clicks = ClickLog(cloud_runtime.cloud.store)
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    stored: list[str] = []
    printed: list[str] = []
    consoles: list[str] = []
    for cut in range(CLICK_CUTS):
        board.press(gestures.single(100))
        click = board.expect("click", WAIT_S)  # decided: the outbox write begins now
        if cut % 2:
            time.sleep(rng.uniform(0, 0.08))  # before, inside or just after the write
        else:
            board.expect("outbox", WAIT_S, stored=click["id"])  # the instant after its commit
        board.power_cut()
        printed += [e["id"] for e in board.events("click")]
        stored += [e["stored"] for e in board.events("outbox")]
        consoles.append(board.console_text())
        outbox_files_are_whole(board.flash)
        restart(board)
    stored += [e["stored"] for e in board.events("outbox")]
    got = clicks.wait_for_ids(setup.serial, stored, WAIT_S)
    at_cloud = [c.event_id for c in got]
    assert len(at_cloud) == len(set(at_cloud))
    assert set(at_cloud) <= set(printed), f"seed {seed}: the cloud has clicks nobody made"
    deadline = time.monotonic() + WAIT_S
    while outbox_files_are_whole(board.flash):  # everything sent goes off the flash
        assert time.monotonic() < deadline, (
            f"outbox not emptied: {list(board.flash.glob('outbox.q/*'))}"
        )
        time.sleep(0.1)
    print(
        f"seed {seed}: {len(printed)} clicks, {len(stored)} stored before the cut, "
        f"{len(at_cloud)} at the cloud, {sum(c.copies - 1 for c in got)} duplicates dropped"
    )
    assert_no_leaks(
        setup.secrets, *consoles, board.console_text(), *run_logs(cloud_runtime, board)
    )


def _submit_later(
    page_submit: Callable[[dict[str, str | bytes | FilePart]], Page],
    fields: dict[str, str | bytes | FilePart],
) -> threading.Thread:
    def run() -> None:
        try:
            page_submit(fields)
        except OSError:
            pass  # the board lost power mid-request

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_power_cut_while_certificates_are_written_keeps_old_or_new_identity(
    boards: BoardFactory, cloud_runtime: CloudRuntime
) -> None:
    board, setup = connected(boards, cloud_runtime)
    api = cloud_runtime.cloud
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    old = (board.read_file("pki/cert.der"), board.read_file("pki/key.der"))
    secrets = list(setup.secrets)
    outcomes = []
    for _ in range(CERT_CUTS):
        fresh = api.provision_button(setup.serial)
        new = (fresh["certificateDer"], fresh["privateKeyDer"])
        secrets += [fresh["privateKeyDer"].hex(), fresh["privateKeyPem"].strip()]
        page = enter_config_mode(board)
        fields: dict[str, str | bytes | FilePart] = {
            "cert": FilePart("certificate.pem.crt", fresh["certificatePem"].encode()),
            "key": FilePart("private.pem.key", fresh["privateKeyPem"].encode()),
        }
        thread = _submit_later(page.submit, fields)
        time.sleep(rng.uniform(0.0, 0.06))
        board.power_cut()
        thread.join(30)
        restart(board)
        pair = (board.read_file("pki/cert.der"), board.read_file("pki/key.der"))
        assert pair in (old, new), f"seed {seed}: a mix of old and new identity after the cut"
        names = {p.name for p in board.flash.rglob("*")}
        assert "config.commit" not in names and not any(n.endswith(".new") for n in names)
        assert json.loads(board.read_file("netcfg.json"))["ssid"] == setup.network.ssid
        outcomes.append("new" if pair == new else "old")
        old = pair
    print(f"seed {seed}: identity after each cut: {outcomes}")
    assert_no_leaks(secrets, board.console_text(), *run_logs(cloud_runtime, board))


SETTINGS_CUTS = 6
WRITE_LOOP = (
    b"\x03",  # Ctrl-C: the app stops at the REPL (micropython -i)
    b"import app\r",
    b"s = app.current.settings\r",
    b"for i in range(1000000): s.apply({'double_ms': 300 + i % 500})\r\r",
)


def test_power_cut_while_settings_are_written_keeps_a_whole_settings_file(
    boards: BoardFactory,
) -> None:
    """Settings written in a tight loop (from the REPL, as mpremote would), power cut at a random
    instant: the file is always whole, old or new, and the board boots with it."""
    board = emulated(boards)
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    for _ in range(SETTINGS_CUTS):
        board.expect("led", WAIT_S, pattern="unconfigured")  # the app runs
        for line in WRITE_LOOP:
            board.proxy.write_input(line)
            time.sleep(0.2)
        board.expect("settings", WAIT_S)  # writing
        time.sleep(rng.uniform(0.0, 0.5))
        board.power_cut()
        values = json.loads(board.read_file("settings.json"))
        assert 300 <= values["double_ms"] < 800, f"seed {seed}: {values}"
        assert not (board.flash / "settings.json.bad").exists()
        board.start()
        boot = board.expect("boot", WAIT_S)
        assert boot["reset"] == "power"
        assert not [e for e in board.events("error") if "settings" in e.get("code", "")]
    print(f"seed {seed}: {SETTINGS_CUTS} cuts during settings writes, file whole each time")
