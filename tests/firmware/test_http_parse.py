"""The request-head parser of firmware/httpd.py under CPython, fed hostile input (Hypothesis)."""

from __future__ import annotations

import importlib
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from host.paths import FIRMWARE_DIR

sys.path.insert(0, str(FIRMWARE_DIR))
httpd = importlib.import_module("httpd")


def test_a_browser_request_head_parses() -> None:
    head = (
        b"POST /configure?x=1 HTTP/1.1\r\nHost: 192.168.0.1\r\n"
        b"Content-Type: multipart/form-data; boundary=----x\r\nContent-Length: 12"
    )
    method, path, headers = httpd.parse_head(head)
    assert (method, path) == ("POST", "/configure")
    assert headers == {
        "host": "192.168.0.1",
        "content-type": "multipart/form-data; boundary=----x",
        "content-length": "12",
    }


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"GET /",
        b"GET / HTTP/2\r\n",
        b"GET index.html HTTP/1.1",
        b"GET / HTTP/1.1\r\nno colon",
        b"\xff\xfe",
    ],
)
def test_malformed_heads_are_400(head: bytes) -> None:
    with pytest.raises(httpd.HttpError) as err:
        httpd.parse_head(head)
    assert err.value.status == 400


@given(st.binary(max_size=300))
def test_hostile_heads_only_raise_http_error(head: bytes) -> None:
    try:
        method, path, headers = httpd.parse_head(head)
    except httpd.HttpError as e:
        assert e.status == 400
        return
    assert path.startswith("/") and isinstance(headers, dict) and method


def test_responses_carry_length_and_close() -> None:
    out = httpd.response(413, "text/plain", b"too big\n")
    assert out.startswith(b"HTTP/1.1 413 Content Too Large\r\n")
    assert b"Content-Length: 8\r\n" in out and b"Connection: close\r\n" in out
    assert out.endswith(b"\r\n\r\ntoo big\n")
