"""The schema toolkit every contract is written with."""

from __future__ import annotations

import datetime as dt

import pytest
from marshmallow import ValidationError, fields

from services.chassis.clock import ManualClock, aware, isoformat
from services.chassis.errors import ValidationFailed
from services.chassis.schema import (
    MAX_ID,
    EventPayload,
    Id,
    Input,
    QueryId,
    StrictBoolean,
    StrictInteger,
    Timestamp,
    load,
    require_id,
    shared,
)


class Body(Input):
    name = fields.String(required=True)
    count = StrictInteger()
    owner_id = Id()
    flag = StrictBoolean()
    at = Timestamp()


class Payload(EventPayload):
    thing_id = fields.Integer(required=True)


def test_input_refuses_unknown_fields_and_names_them() -> None:
    with pytest.raises(ValidationFailed) as caught:
        load(Body(), {"name": "x", "colour": "red"})
    assert "colour" in caught.value.errors


def test_a_body_that_is_not_an_object_is_reported_under_body() -> None:
    bodies: tuple[object, ...] = ([], "text", 3, None)
    for body in bodies:
        with pytest.raises(ValidationFailed) as caught:
            load(Body(), body)
        assert list(caught.value.errors) == ["_body"]


def test_a_schema_class_loads_with_one_shared_instance_that_keeps_nothing_between_calls() -> None:
    assert shared(Body) is shared(Body) and shared(Body, many=True) is shared(Body, many=True)
    assert shared(Body) is not shared(Body, many=True) and shared(Body, many=True).many
    assert load(Body, {"name": "a", "count": 1}) == {"name": "a", "count": 1}
    with pytest.raises(ValidationFailed) as caught:
        load(Body, {"name": "b", "count": "1"})
    assert list(caught.value.errors) == ["count"]
    assert load(Body, {"name": "c"}) == {"name": "c"}  # nothing of the failed call is left over
    assert load(Body, {"count": 2}, partial=True) == {"count": 2}
    with pytest.raises(ValidationFailed):
        load(Body, {"count": 2})  # ``partial`` was that call's alone


def test_events_ignore_fields_they_do_not_know() -> None:
    loaded = Payload().load(
        {"event_id": "e", "occurred_at": "2026-01-01T00:00:00+00:00", "thing_id": 1, "new": 2}
    )
    assert "new" not in loaded and loaded["thing_id"] == 1


@pytest.mark.parametrize("value", [True, 1.5, "3", 2**63, -(2**63) - 1])
def test_strict_integers_are_json_integers_within_64_bits(value: object) -> None:
    with pytest.raises(ValidationFailed):
        load(Body(), {"name": "x", "count": value})


@pytest.mark.parametrize("value", [0, -1, True, "1", MAX_ID + 1])
def test_ids_are_positive_integers(value: object) -> None:
    with pytest.raises(ValidationFailed):
        load(Body(), {"name": "x", "owner_id": value})
    assert load(Body(), {"name": "x", "owner_id": MAX_ID})["owner_id"] == MAX_ID


@pytest.mark.parametrize("value", ["yes", 1, "true", None])
def test_strict_booleans_are_json_booleans(value: object) -> None:
    with pytest.raises(ValidationFailed):
        load(Body(), {"name": "x", "flag": value})


def test_timestamps_need_an_offset_and_come_back_in_utc() -> None:
    loaded = load(Body(), {"name": "x", "at": "2026-03-29T03:30:00+02:00"})["at"]
    assert loaded == dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC)
    for bad in ("2026-03-29T03:30:00", "yesterday", 5, "9" * 100):
        with pytest.raises(ValidationFailed):
            load(Body(), {"name": "x", "at": bad})
    assert Timestamp()._serialize(dt.datetime(2026, 1, 1), "at", None) == "2026-01-01T00:00:00+00:00"


@pytest.mark.parametrize("text", ["١٢", "1e3", "-1", "0", " ", "12a", "9" * 20, "１"])
def test_query_ids_are_ascii_digits_within_64_bits(text: str) -> None:
    with pytest.raises(ValidationError):
        QueryId().deserialize(text)
    assert QueryId().deserialize("42") == 42


@pytest.mark.parametrize("value", [0, -3, True, "4", 4.0, 2**63, None])
def test_rpc_id_arguments_are_checked_like_input(value: object) -> None:
    with pytest.raises(ValidationFailed) as caught:
        require_id(value, "ticket_id")
    assert list(caught.value.errors) == ["ticket_id"]
    assert require_id(4, "ticket_id") == 4


def test_a_manual_clock_moves_only_when_told() -> None:
    start = dt.datetime(2026, 10, 25, 0, 0, tzinfo=dt.UTC)
    clock = ManualClock(start)
    assert clock.now() == start == clock.now()
    assert clock.advance(hours=1, seconds=30) == start + dt.timedelta(hours=1, seconds=30)
    clock.set(dt.datetime(2027, 1, 1))
    assert clock.now().tzinfo is dt.UTC


def test_moments_on_the_wire_carry_a_utc_offset() -> None:
    assert isoformat(None) is None
    assert isoformat(dt.datetime(2026, 1, 1, 12)) == "2026-01-01T12:00:00+00:00"
    warsaw = dt.timezone(dt.timedelta(hours=1))
    assert aware(dt.datetime(2026, 1, 1, 13, tzinfo=warsaw)) == dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
