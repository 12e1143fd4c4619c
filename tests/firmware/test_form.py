"""firmware/form.py under CPython: both form encodings, streamed from a body read in pieces of
any size, and hostile input (Hypothesis)."""

from __future__ import annotations

import asyncio
import importlib
import sys
import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from host.paths import FIRMWARE_DIR

sys.path.insert(0, str(FIRMWARE_DIR))
form = importlib.import_module("form")


class Body:
    """The request body as httpd.Body gives it: at most `piece` bytes per read, b"" at the end."""

    def __init__(self, data: bytes, piece: int) -> None:
        self.data, self.piece, self.reads = data, piece, 0

    async def read(self, size: int) -> bytes:
        self.reads += 1
        out = self.data[: min(size, self.piece)]
        self.data = self.data[len(out) :]
        return out


class Fields:
    """A sink collecting the streamed fields into a dict; it records the largest write."""

    def __init__(self) -> None:
        self.fields: dict[str, bytes] = {}
        self.name = ""
        self.largest = 0

    def open(self, name: str) -> None:
        self.name = name
        self.fields[name] = b""

    def write(self, data: bytes) -> None:
        self.largest = max(self.largest, len(data))
        self.fields[self.name] += data

    def close(self) -> None:
        self.name = ""


def parse(ctype: str, body: bytes, piece: int = 7) -> dict[str, bytes]:
    sink = Fields()
    asyncio.run(form.parse(ctype, Body(body, piece), sink))
    return sink.fields


names = st.text(st.characters(codec="utf-8", exclude_characters='"\r\n'), min_size=1, max_size=12)
values = st.binary(max_size=200)


def multipart(fields: dict[str, bytes], boundary: str) -> bytes:
    out = b""
    for name, value in fields.items():
        out += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="x.pem"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + value
            + b"\r\n"
        )
    return out + f"--{boundary}--\r\n".encode()


def test_urlencoded_decodes_plus_and_percent() -> None:
    body = b"ssid=My+Home%21&password=p%C3%A4ss%26word&empty=&flag"
    assert parse("application/x-www-form-urlencoded", body) == {
        "ssid": b"My Home!",
        "password": "päss&word".encode(),
        "empty": b"",
        "flag": b"",
    }


def test_multipart_keeps_file_bytes_exactly() -> None:
    pem_text = b"-----BEGIN CERTIFICATE-----\r\nMIIB\r\n-----END CERTIFICATE-----\r\n"
    body = multipart({"ssid": b"Guest", "cert": pem_text, "bin": b"\x00\r\n--x\xff"}, "XyZ")
    got = parse('multipart/form-data; boundary="XyZ"', body)
    assert got == {"ssid": b"Guest", "cert": pem_text, "bin": b"\x00\r\n--x\xff"}


@given(st.dictionaries(names, values, max_size=8), st.integers(1, 600))
def test_multipart_round_trips(fields: dict[str, bytes], piece: int) -> None:
    boundary = "----rigBoundary7MA4YWxkTrZu0gW"
    body = multipart(fields, boundary)
    assert parse(f"multipart/form-data; boundary={boundary}", body, piece) == fields


@given(st.dictionaries(names, values, max_size=8), st.integers(1, 600))
def test_urlencoded_round_trips(fields: dict[str, bytes], piece: int) -> None:
    body = urllib.parse.urlencode(list(fields.items())).encode()
    assert parse("application/x-www-form-urlencoded", body, piece) == fields


@pytest.mark.parametrize("encoding", ["multipart", "urlencoded"])
def test_a_large_upload_is_streamed_in_small_blocks(encoding: str) -> None:
    # 16 KB of file content reaches the sink in pieces of at most a block, read in blocks
    content = bytes(range(256)) * 64
    if encoding == "multipart":
        ctype, body = (
            "multipart/form-data; boundary=b0undary",
            multipart({"cert": content}, "b0undary"),
        )
    else:
        ctype = "application/x-www-form-urlencoded"
        body = urllib.parse.urlencode({"cert": content}).encode()
    sink, src = Fields(), Body(body, 100000)
    asyncio.run(form.parse(ctype, src, sink))
    assert sink.fields == {"cert": content}
    assert sink.largest <= form.BLOCK
    assert src.reads >= len(body) // form.BLOCK


@pytest.mark.parametrize(
    ("ctype", "body", "reason"),
    [
        ("text/plain", b"a=b", "unsupported"),
        ("multipart/form-data", b"--x\r\n", "boundary"),
        ("multipart/form-data; boundary=x", b"no delimiter here", "not found"),
        ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data", "truncated"),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nvalue without end',
            "truncated",
        ),
        ("multipart/form-data; boundary=x", b"--x\r\nX: y\r\n\r\nv\r\n--x--", "without a name"),
        ("application/x-www-form-urlencoded", b"a=%4", "escape"),
        ("application/x-www-form-urlencoded", b"a=%zz", "escape"),
        (
            "application/x-www-form-urlencoded",
            b"&".join(b"f%d=1" % i for i in range(40)),
            "too many",
        ),
    ],
)
def test_malformed_forms_raise_form_error(ctype: str, body: bytes, reason: str) -> None:
    with pytest.raises(form.FormError, match=reason):
        parse(ctype, body)


@given(st.binary(max_size=400), st.sampled_from(["x", "----b", "a" * 70]))
def test_hostile_multipart_never_crashes(body: bytes, boundary: str) -> None:
    try:
        fields = parse(f"multipart/form-data; boundary={boundary}", body)
    except form.FormError:
        return
    assert all(isinstance(v, bytes) for v in fields.values())


@given(st.binary(max_size=400))
def test_hostile_urlencoded_never_crashes(body: bytes) -> None:
    try:
        fields = parse("application/x-www-form-urlencoded", body)
    except form.FormError:
        return
    assert len(fields) <= form.MAX_FIELDS


@given(st.binary(max_size=200))
def test_hostile_multipart_with_valid_start(tail: bytes) -> None:
    body = b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--b' + tail
    try:
        parse("multipart/form-data; boundary=b", body)
    except form.FormError:
        pass
