"""Shadow reply bodies as the cloud sends them (rig.cloud.core.jsoncodec.dumps, orjson): compact JSON
that decodes to exactly the body, integers beyond 64 bits and non-ASCII text included."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from rig.cloud.api import Cloud
from rig.cloud.core.jsoncodec import dumps as encode

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()  # unbounded: a device may report 2**70, which orjson cannot write
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=5))
def test_a_reply_decodes_to_exactly_its_body(body: dict[str, Any]) -> None:
    assert json.loads(encode(body)) == body


def test_a_reply_is_compact_utf8() -> None:
    body = {"state": {"reported": {"name": "café", "big": 2**70}}, "version": 3}
    data = encode(body)
    assert (
        data
        == '{"state":{"reported":{"name":"café","big":1180591620717411303424}},"version":3}'.encode()
    )
    assert encode({"v": 1, "s": "ü"}) == '{"v":1,"s":"ü"}'.encode()


def test_a_rest_reply_and_its_mqtt_copy_are_the_same_bytes(tmp_path: Path) -> None:
    """One encoder, one byte form: what `iot-data update-thing-shadow` returns is, byte for byte,
    what an MQTT subscriber of update/accepted gets from the outbox (the same body)."""
    cloud = Cloud(tmp_path)
    try:
        body = b'{"state": {"reported": {"name": "caf\\u00e9", "big": 1180591620717411303424}}}'
        returned = cloud.update_thing_shadow("enc-1", body)
        rows = cloud.store.read().execute("SELECT topic, payload FROM outbox ORDER BY seq")
        published = {row["topic"]: bytes(row["payload"]) for row in rows}
        assert published["$aws/things/enc-1/shadow/update/accepted"] == returned
        assert b", " not in returned and "café".encode() in returned
    finally:
        cloud.close()
