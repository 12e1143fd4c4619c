"""host/monitor.py: events are pretty-printed and key material never reaches the screen."""

from __future__ import annotations

import base64
import os

from host.monitor import REDACTED, LineSplitter, redact, render_line

KEY_B64 = base64.b64encode(os.urandom(120)).decode()
PEM = f"-----BEGIN PRIVATE KEY-----\n{KEY_B64[:64]}\n{KEY_B64[64:]}\n-----END PRIVATE KEY-----"


def test_a_click_event_is_pretty_printed() -> None:
    line = 'EVT {"ev":"click","type":"DOUBLE","t":1234,"id":"0011223344556677","n":2}\r\n'
    assert render_line(line) == '[click] type="DOUBLE" t=1234 id="0011223344556677" n=2'
    assert render_line(line, pretty=False) == line.rstrip()


def test_a_broken_event_line_is_shown_not_dropped() -> None:
    assert render_line("EVT {not json") == "[EVT?] {not json"


def test_a_pem_block_split_over_console_lines_is_redacted_whole() -> None:
    splitter = LineSplitter()
    console = f"before\r\n{PEM}\r\nafter\r\n".encode()
    out = [
        render_line(line)
        for chunk in (console[:50], console[50:])
        for line in splitter.feed(chunk)
    ]
    text = "\n".join(out)
    assert KEY_B64[:64] not in text and KEY_B64[64:] not in text
    assert f"PRIVATE KEY {REDACTED}" in text
    assert out[0] == "before" and out[-1] == "after"


def test_long_base64_hex_and_bytes_literals_are_redacted() -> None:
    der = os.urandom(48)
    for secret in (KEY_B64, der.hex(), der.hex(":"), repr(der)):
        assert secret not in redact(f"key = {secret} end"), secret


def test_password_fields_are_redacted_but_ordinary_text_stays() -> None:
    line = 'config: {"ssid": "lab", "password": "hunter22"} wifi_pass=abc psk: s3cret'
    out = redact(line)
    assert "hunter22" not in out and "s3cret" not in out
    assert '"ssid": "lab"' in out
    normal = 'EVT {"ev":"boot","fw":"0.1.0","board":"esp32-devkitc","reset":"hard","wake":null}'
    assert redact(normal) == normal
