"""The outbox records only what the producer's contract describes."""

from __future__ import annotations

import json

import pytest
from marshmallow import fields
from sqlalchemy import MetaData, create_engine, select
from sqlalchemy.orm import Session

from services.chassis.clock import ManualClock
from services.chassis.outbox import ContractViolation, Outbox
from services.chassis.schema import EventPayload


class ThingMade(EventPayload):
    thing_id = fields.Integer(required=True)
    label = fields.String(load_default="")


def _outbox() -> tuple[Outbox, Session]:
    metadata = MetaData()
    outbox = Outbox(metadata, {"thing_made": ThingMade})
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    return outbox, Session(engine)


def test_a_payload_is_stored_as_its_schema_dumps_it_with_id_and_time_from_the_clock() -> None:
    outbox, session = _outbox()
    clock = ManualClock()
    event_id = outbox.record(session, "thing_made", {"thing_id": 3}, clock=clock)
    row = session.execute(select(outbox.table)).one()
    body = json.loads(row.payload)
    assert body == {"event_id": event_id, "occurred_at": clock.now().isoformat(), "thing_id": 3, "label": ""}
    assert row.event_type == "thing_made" and row.published_at is None


@pytest.mark.parametrize(
    ("event_type", "payload"),
    [
        ("thing_unmade", {"thing_id": 3}),  # not an event of the contract
        ("thing_made", {}),  # a required field is missing
        ("thing_made", {"thing_id": "three"}),  # a field of the wrong type
        ("thing_made", {"thing_id": 3, "secret": "x"}),  # a field the contract does not declare
    ],
)
def test_what_the_contract_does_not_say_cannot_be_recorded(
    event_type: str, payload: dict[str, object]
) -> None:
    outbox, session = _outbox()
    with pytest.raises(ContractViolation):
        outbox.record(session, event_type, payload)
    assert session.execute(select(outbox.table)).first() is None
