"""``chassis.json_codec``: orjson under kombu's ``json`` serializer carries the same values kombu's
own JSON carried, and falls back to kombu where orjson cannot say the same thing."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kombu import serialization
from kombu.utils import json as kombu_json

from services.chassis import json_codec

plain = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def kombu_round_trip(value: Any) -> Any:
    return kombu_json.loads(kombu_json.dumps(value))


@given(plain)
def test_plain_values_arrive_as_kombu_delivered_them(value: Any) -> None:
    assert json_codec.decode(json_codec.encode(value)) == kombu_round_trip(value)


@given(plain)
def test_what_kombu_wrote_reads_the_same(value: Any) -> None:
    body = kombu_json.dumps(value)
    assert json_codec.decode(body) == json_codec.decode(body.encode()) == kombu_round_trip(value)


@pytest.mark.parametrize(
    "value",
    [
        {"at": dt.datetime(2026, 12, 4, 10, 0, tzinfo=dt.UTC)},
        {"day": dt.date(2026, 12, 4), "when": dt.time(10, 30)},
        {"amount": Decimal("12.30")},
        {"raw": b"\x00\xff", "text": b"plain"},
        {1: "an int key", None: "a None key"},
        {"lone": "\ud800 surrogate"},
        ("a", ["tuple", 1]),
    ],
    ids=["datetime", "date-time", "decimal", "bytes", "non-str-keys", "surrogate", "tuple"],
)
def test_what_orjson_cannot_say_goes_through_kombu(value: Any) -> None:
    body = json_codec.encode(value)
    assert isinstance(body, bytes)
    assert json_codec.decode(body) == kombu_round_trip(value)


def test_non_ascii_is_sent_as_itself() -> None:
    assert json_codec.encode({"name": "Zażółć gęślą jaźń"}) == '{"name":"Zażółć gęślą jaźń"}'.encode()


def test_bodies_orjson_refuses_are_read_by_kombu() -> None:
    assert math.isnan(json_codec.decode(b'{"x": NaN}')["x"])
    assert json_codec.decode(memoryview(b'{"n": [1, Infinity]}')) == {"n": [1, math.inf]}
    with pytest.raises(ValueError):
        json_codec.decode(b'{"not json"')


def test_integers_past_64_bits_are_sent_whole_and_read_as_floats() -> None:
    body = json_codec.encode({"n": 2**70})
    assert body == b'{"n": 1180591620717411303424}'  # kombu's encoder wrote it
    assert json_codec.decode(body) == {"n": float(2**70)}  # the documented difference


def test_unencodable_values_still_refuse() -> None:
    with pytest.raises(TypeError):
        json_codec.encode({"a set": {1, 2}})


def test_installed_as_kombus_json() -> None:
    json_codec.install()
    content_type, encoding, body = serialization.dumps({"result": [1, "ż"], "error": None}, serializer="json")
    assert (content_type, encoding) == ("application/json", "utf-8")
    assert serialization.loads(body, content_type, encoding) == {"result": [1, "ż"], "error": None}
