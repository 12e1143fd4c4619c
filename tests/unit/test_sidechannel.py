"""The rig's side-channel server against the real `_rig` shim on the unix port."""

import json
import os
import socket
import subprocess
import threading

import pytest

from rig.drivers.emulated import SHIMS_DIR
from rig.drivers.sidechannel import SideChannel, SideChannelError, decode, encode
from rig.unix_port.binary import checked_binary, default_binary


def test_encode_decode_round_trip_and_errors() -> None:
    msg = {"op": "play", "pin": 0, "edges": [[0, 0], [100, 1]]}
    assert encode(msg) == b'{"op":"play","pin":0,"edges":[[0,0],[100,1]]}\n'
    assert decode(encode(msg)) == msg
    with pytest.raises(ValueError, match="needs a string 'op'"):
        encode({"pin": 0})
    with pytest.raises(ValueError, match="not JSON"):
        decode(b"{oops\n")
    with pytest.raises(ValueError, match="without 'op'"):
        decode(b"[1]\n")


def test_send_without_a_board_says_so() -> None:
    channel = SideChannel()
    try:
        with pytest.raises(SideChannelError, match="no board process connected"):
            channel.send({"op": "pin", "pin": 0, "level": 1}, timeout=0.1)
    finally:
        channel.close()


def test_bad_lines_are_recorded_not_fatal() -> None:
    got: list[dict] = []
    done = threading.Event()

    def on_message(msg: dict) -> None:
        got.append(msg)
        done.set()

    channel = SideChannel(on_message)
    try:
        with socket.create_connection(("127.0.0.1", channel.port)) as s:
            s.sendall(b"garbage\n" + encode({"op": "hello", "pid": 1}))
            assert done.wait(10)
            channel.send({"op": "pin", "pin": 0, "level": 0})
            assert s.makefile("rb").readline() == b'{"op":"pin","pin":0,"level":0}\n'
        assert got == [{"op": "hello", "pid": 1}]
        assert channel.protocol_errors and "garbage" in channel.protocol_errors[0]
        assert channel.wait_all_closed(10)
        assert not channel.connected()
    finally:
        channel.close()


SCRIPT = """
import _rig, machine, time, micropython
seen = []
p = machine.Pin(0, machine.Pin.IN, machine.Pin.PULL_UP)
p.irq(lambda pin: seen.append(pin.value()), machine.Pin.IRQ_FALLING | machine.Pin.IRQ_RISING)
out = machine.Pin(2, machine.Pin.OUT)
out.on()
while len(seen) < 4:
    time.sleep_ms(5)
_rig.send({"op": "seen", "levels": seen, "value": p.value()})
time.sleep_ms(100000)
"""


def test_shim_plays_edges_as_soft_irqs_and_reports_outputs(tmp_path) -> None:
    messages: list[dict] = []
    arrived = threading.Condition()

    def on_message(msg: dict) -> None:
        with arrived:
            messages.append(msg)
            arrived.notify_all()

    def wait_for(op: str) -> dict:
        with arrived:
            assert arrived.wait_for(lambda: any(m["op"] == op for m in messages), 30), messages
            return next(m for m in messages if m["op"] == op)

    channel = SideChannel(on_message)
    env = dict(os.environ, MICROPYPATH=f":.frozen:{SHIMS_DIR}", BUTTONRIG_CHANNEL=channel.address)
    (tmp_path / "s.py").write_text(SCRIPT)
    proc = subprocess.Popen(
        [checked_binary(default_binary()), "s.py"], cwd=tmp_path, env=env, stderr=subprocess.PIPE
    )
    try:
        wait_for("hello")
        assert wait_for("irq") == {"op": "irq", "pin": 0, "trigger": 3}
        out = wait_for("out")
        assert (out["pin"], out["value"], type(out["t"])) == (2, 1, int), out
        channel.send({"op": "play", "pin": 0, "edges": [[0, 0], [30, 1], [30, 0], [30, 1]]})
        wait_for("played")
        seen = wait_for("seen")
        assert seen["levels"] == [0, 1, 0, 1], json.dumps(messages)
        assert seen["value"] == 1
    finally:
        proc.kill()
        proc.wait()
        channel.close()
    # The shim ends its process when the rig goes away; here we killed it: the channel drains.
    assert channel.wait_all_closed(10)


def test_board_process_ends_when_the_rig_goes_away(tmp_path) -> None:
    hello = threading.Event()

    def on_message(msg: dict) -> None:
        if msg["op"] == "hello":
            hello.set()

    channel = SideChannel(on_message)
    env = dict(os.environ, MICROPYPATH=f":.frozen:{SHIMS_DIR}", BUTTONRIG_CHANNEL=channel.address)
    (tmp_path / "s.py").write_text("import _rig, time\ntime.sleep_ms(100000)\n")
    proc = subprocess.Popen([checked_binary(default_binary()), "s.py"], cwd=tmp_path, env=env)
    try:
        assert hello.wait(30)
        channel.close()
        assert proc.wait(30) != 0
    finally:
        proc.kill()
        proc.wait()
