"""rig.cloud.core.jsoncodec gives the json module's answers, only faster: same values read, same text
written, errors where the json module (or JSON itself) has them."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rig.cloud.core import jsoncodec

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)  # beyond 64 bits too
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
TREES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


def _same(a: Any, b: Any) -> bool:
    """Equal with types: 1 is not 1.0 nor True, -0.0 is not 0.0."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _surrogate_free(tree: Any) -> bool:
    return not isinstance(tree, str) or not any(0xD800 <= ord(c) <= 0xDFFF for c in tree)


@given(TREES)
def test_reads_what_the_json_module_reads(tree: Any) -> None:
    text = json.dumps(tree, ensure_ascii=False, separators=(",", ":"))
    try:
        data = text.encode()
    except UnicodeEncodeError:  # a lone surrogate: no UTF-8 text can carry it
        return
    assert _same(jsoncodec.loads(data), json.loads(text))
    escaped = json.dumps(tree).encode()  # \\uXXXX escapes, including lone surrogates
    assert _same(jsoncodec.loads(escaped), json.loads(escaped))


@given(TREES.filter(_surrogate_free))
def test_writes_what_the_json_module_writes_and_copies_faithfully(tree: Any) -> None:
    try:
        expected = json.dumps(tree, separators=(",", ":"), ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return
    written = jsoncodec.dumps(tree)
    assert _same(json.loads(written), tree)
    # floats may be spelled differently (1e-07 / 1e-7); everything else byte for byte
    if not any(isinstance(leaf, float) for leaf in _leaves(tree)):
        assert written == expected
    copied = jsoncodec.copy(tree)
    assert _same(copied, tree)
    if isinstance(tree, (dict, list)) and tree:
        assert copied is not tree


def _leaves(tree: Any) -> list[Any]:
    if isinstance(tree, dict):
        return [leaf for child in tree.values() for leaf in _leaves(child)]
    if isinstance(tree, list):
        return [leaf for child in tree for leaf in _leaves(child)]
    return [tree]


def test_integers_beyond_64_bits_keep_every_digit() -> None:
    big = 2**64 + 1
    assert jsoncodec.loads(b'{"n": 18446744073709551617}') == {"n": big}
    assert jsoncodec.dumps({"n": big}) == b'{"n":18446744073709551617}'
    copied = jsoncodec.copy({"n": [big]})
    assert copied == {"n": [big]} and type(copied["n"][0]) is int


@pytest.mark.parametrize(
    "data",
    [b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}', b'{"a": 1e400}', b"{", b""],
)
def test_what_is_not_json_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        jsoncodec.loads(data)


def test_invalid_utf8_is_a_decode_error_and_deep_nesting_a_recursion_error() -> None:
    with pytest.raises(UnicodeDecodeError):
        jsoncodec.loads(b'{"a": "\xff"}')
    with pytest.raises(RecursionError):
        jsoncodec.loads(b"[" * 100_000 + b"]" * 100_000)
