"""services.chassis.roundtrip keeps its one promise: for every event schema of every service, on
generated payloads (plausible values, None, missing keys, wrong types, unknown keys), the fast
function returns exactly what marshmallow's ``dump(load(payload))`` returns, key order included,
or None; never a payload marshmallow refuses. And the payloads services really record take the
fast path."""

from __future__ import annotations

import datetime as dt
import importlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from services.chassis.roundtrip import compile_roundtrip
from services.chassis.schema import Timestamp

SERVICES = ("tickets", "notifications", "permissions", "conversations")


def event_schemas() -> list[tuple[str, Schema]]:
    found = []
    for service in SERVICES:
        contract = importlib.import_module(f"services.{service}.contract")
        for event_type, schema_class in getattr(contract, "EVENT_SCHEMAS", {}).items():
            found.append((f"{service}.{event_type}", schema_class(unknown=RAISE)))
    return found


SCHEMAS = event_schemas()

WRONG = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-5, 5),
    st.booleans(),
    st.text(max_size=4),
    st.binary(max_size=4),
    st.just([]),
    st.just({}),
    st.tuples(st.integers(0, 3)),
)
MOMENTS = st.datetimes(
    min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)
)


def plausible(field: fields.Field) -> st.SearchStrategy[Any]:
    """Values the field loads, mostly; a nested payload is now and then a corrupted one."""
    kind = type(field)
    if kind is fields.String:
        choices = [v.choices for v in field.validators if isinstance(v, validate.OneOf)]
        return st.sampled_from(sorted(choices[0])) if choices else st.text(max_size=12)
    if kind is fields.Integer:
        return st.integers(-(2**63), 2**63 - 1)
    if kind is fields.Boolean:
        return st.booleans()
    if kind is Timestamp:
        return st.one_of(
            MOMENTS.map(lambda m: m.isoformat()),
            MOMENTS.map(lambda m: m.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat()),
            MOMENTS,
            MOMENTS.map(lambda m: m.replace(tzinfo=None).isoformat()),  # refused: no offset
        )
    if isinstance(field, fields.List):
        return st.lists(plausible(field.inner), max_size=3)
    if isinstance(field, fields.Nested):
        return st.one_of(valid_payload(field.schema), valid_payload(field.schema), payload(field.schema))
    if kind is fields.Dict:
        return st.dictionaries(st.text(max_size=4), st.one_of(st.integers(), st.text(max_size=4)), max_size=3)
    return st.none()


@st.composite
def valid_payload(draw: st.DrawFn, schema: Schema) -> dict[str, Any]:
    """A payload the schema mostly accepts: every required field, some optional ones, None where
    allowed now and then."""
    body: dict[str, Any] = {}
    for name, field in schema.fields.items():
        if not field.required and draw(st.booleans()):
            continue
        if field.allow_none and draw(st.integers(0, 4)) == 0:
            body[name] = None
        else:
            body[name] = draw(plausible(field))
    return body


@st.composite
def payload(draw: st.DrawFn, schema: Schema) -> dict[str, Any]:
    """A valid-looking payload with, half the time, one thing wrong: a value of the wrong kind or
    None, a key missing, or a key the contract does not have."""
    body = draw(valid_payload(schema))
    mutation = draw(st.sampled_from(["none", "none", "wrong", "null", "drop", "unknown"]))
    names = sorted(schema.fields)
    if mutation == "wrong":
        body[draw(st.sampled_from(names))] = draw(WRONG)
    elif mutation == "null":
        body[draw(st.sampled_from(names))] = None
    elif mutation == "drop" and body:
        del body[draw(st.sampled_from(sorted(body)))]
    elif mutation == "unknown":
        body["not_in_the_contract"] = draw(st.integers())
    return body


def marshmallow_roundtrip(schema: Schema, body: Any) -> dict[str, Any] | None:
    try:
        return schema.dump(schema.load(body))
    except (ValidationError, TypeError, ValueError):
        return None


@pytest.mark.parametrize(("name", "schema"), SCHEMAS, ids=[name for name, _ in SCHEMAS])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_fast_answer_is_marshmallows_or_none(name: str, schema: Schema, data: st.DataObject) -> None:
    body = data.draw(payload(schema))
    fast = compile_roundtrip(schema)(body)
    if fast is None:
        return
    expected = marshmallow_roundtrip(schema, body)
    assert expected is not None, f"{name}: the fast path accepted what marshmallow refuses: {body!r}"
    assert fast == expected
    assert json.dumps(fast) == json.dumps(expected), "the same keys in the same order"


def test_every_event_schema_of_the_services_is_checked() -> None:
    names = {name for name, _ in SCHEMAS}
    assert {"tickets.ticket_created", "notifications.notifications_added"} <= names


def schema_named(name: str) -> Schema:
    return dict(SCHEMAS)[name]


def test_what_the_services_record_takes_the_fast_path() -> None:
    now = "2026-12-04T06:00:00+00:00"
    added = {
        "event_id": "e1",
        "occurred_at": now,
        "notifications": [
            {
                "user_id": 1,
                "unread": 3,
                "grown": False,
                "notification": {
                    "id": 7,
                    "type": "ticket_created",
                    "ticket_id": 12,
                    "ticket_ids": [12],
                    "count": 1,
                    "title": "New ticket: printer on fire",
                    "actor_id": None,
                    "created_at": now,
                    "updated_at": now,
                    "read": False,
                },
            }
        ],
    }
    schema = schema_named("notifications.notifications_added")
    fast = compile_roundtrip(schema)(added)
    assert fast is not None
    assert fast == schema.dump(schema.load(added))


def test_a_schema_with_what_it_does_not_know_always_says_not_sure() -> None:
    class WithEmail(Schema):
        address = fields.Email(required=True)

    class WithDataKey(Schema):
        number = fields.Integer(data_key="n")

    assert compile_roundtrip(WithEmail())({"address": "a@example.com"}) is None
    assert compile_roundtrip(WithDataKey())({"n": 1}) is None


def test_validators_and_defaults_as_marshmallow_has_them() -> None:
    class Sample(Schema):
        kind = fields.String(required=True, validate=validate.OneOf(["a", "b"]))
        size = fields.Integer(validate=validate.Range(min=0))
        flag = fields.Boolean(load_default=False)
        tags = fields.List(fields.String(), load_default=list)

    roundtrip = compile_roundtrip(Sample())
    assert roundtrip({"kind": "a"}) == {"kind": "a", "flag": False, "tags": []}
    assert roundtrip({"kind": "c"}) is None
    assert roundtrip({"kind": "a", "size": -1}) is None
    assert roundtrip({"kind": "a", "size": 3, "flag": True}) == {
        "kind": "a",
        "size": 3,
        "flag": True,
        "tags": [],
    }
    assert roundtrip({"kind": "a", "size": True}) is None, "a bool is no integer"
