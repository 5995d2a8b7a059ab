"""Recorded event payloads of every published version keep loading with today's contract.

Each file in ``payloads/`` is named ``<service>.<event>.v<N>.json``; the test finds the
producer's schema for the event through ``EVENT_SCHEMAS`` below. Adding an event means
adding a payload here; a change that breaks an old payload fails this test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from marshmallow import Schema

from services.tickets import contract as tickets_contract

PAYLOADS = Path(__file__).parent / "payloads"

EVENT_SCHEMAS: dict[tuple[str, str], type[Schema]] = {
    (tickets_contract.SERVICE_NAME, tickets_contract.TICKET_CREATED): tickets_contract.TicketCreatedEvent,
    (tickets_contract.SERVICE_NAME, tickets_contract.SLA_BREACHED): tickets_contract.SlaBreachedEvent,
}


def recorded() -> list[Path]:
    return sorted(PAYLOADS.glob("*.json"))


@pytest.mark.parametrize("path", recorded(), ids=lambda p: p.name)
def test_recorded_payload_loads(path: Path) -> None:
    service, event, _version = path.name.removesuffix(".json").split(".")
    schema = EVENT_SCHEMAS[(service, event)]
    payload = json.loads(path.read_text())
    loaded = schema().load(payload)
    assert loaded["event_id"] == payload["event_id"]


def test_unknown_fields_are_ignored_by_consumers() -> None:
    payload = json.loads((PAYLOADS / "tickets.ticket_created.v1.json").read_text())
    payload["added_in_a_later_version"] = {"anything": True}
    assert "added_in_a_later_version" not in tickets_contract.TicketCreatedEvent().load(payload)


def test_every_schema_has_a_recorded_payload() -> None:
    recorded_events = {tuple(p.name.split(".")[:2]) for p in recorded()}
    assert set(EVENT_SCHEMAS) <= recorded_events
