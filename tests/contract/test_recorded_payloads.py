"""Recorded event payloads of every published version keep loading with today's contract.

Each file in ``payloads/`` is named ``<service>.<event>.v<N>.json``; the test finds the
producer's schema for the event through ``EVENT_SCHEMAS`` below. Adding an event means
adding a payload here; a change that breaks an old payload fails this test.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from marshmallow import Schema

from services.conversations import contract as conversations_contract
from services.notifications import contract as notifications_contract
from services.tickets import contract as tickets_contract

PAYLOADS = Path(__file__).parent / "payloads"

EVENT_SCHEMAS: dict[tuple[str, str], type[Schema]] = {
    (tickets_contract.SERVICE_NAME, tickets_contract.TICKET_CREATED): tickets_contract.TicketCreatedEvent,
    # v2 says how the change was made (actor_kind, quiet, batch_id)
    (tickets_contract.SERVICE_NAME, tickets_contract.TICKET_UPDATED): tickets_contract.TicketUpdatedEvent,
    (
        notifications_contract.SERVICE_NAME,
        notifications_contract.NOTIFICATIONS_ADDED,
    ): notifications_contract.NotificationsAddedEvent,
    (
        notifications_contract.SERVICE_NAME,
        notifications_contract.NOTIFICATIONS_READ,
    ): notifications_contract.NotificationsReadEvent,
    # published by the SMTP edge, not by an outbox
    (
        conversations_contract.SERVICE_NAME,
        conversations_contract.MAIL_RECEIVED,
    ): conversations_contract.InboundMailSchema,
    (tickets_contract.SERVICE_NAME, tickets_contract.TICKET_IMPORTED): tickets_contract.TicketImportedEvent,
    **{
        (tickets_contract.SERVICE_NAME, event): tickets_contract.EVENT_SCHEMAS[event]
        for event in (
            tickets_contract.TICKET_MERGED,
            tickets_contract.TICKET_SPLIT,
            tickets_contract.TICKET_DELETED,
            tickets_contract.TICKET_RESTORED,
            tickets_contract.TICKETS_PURGED,
        )
    },
    **{
        (conversations_contract.SERVICE_NAME, event): conversations_contract.EVENT_SCHEMAS[event]
        for event in (
            conversations_contract.THREAD_SPLIT,
            conversations_contract.THREAD_MARKED_SPAM,
            conversations_contract.THREAD_UNMARKED_SPAM,
        )
    },
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


def test_a_recorded_mail_keeps_its_envelope_and_exact_bytes() -> None:
    payload = json.loads((PAYLOADS / "conversations.mail_received.v1.json").read_text())
    loaded = conversations_contract.InboundMailSchema().load(payload)
    assert loaded["event_id"] == str(loaded["edge_id"])
    assert loaded["received_at"].utcoffset() is not None
    assert loaded["rcpt_tos"] == ["support@helpdesk.example"]
    raw = base64.b64decode(loaded["raw_b64"])
    assert raw == base64.b64decode(payload["raw_b64"])
    assert b"Message-ID: <recorded-1@example.com>\r\n" in raw


def test_every_schema_has_a_recorded_payload() -> None:
    recorded_events = {tuple(p.name.split(".")[:2]) for p in recorded()}
    assert set(EVENT_SCHEMAS) <= recorded_events


def test_a_change_recorded_before_events_said_how_it_was_made_reads_as_a_persons() -> None:
    old = tickets_contract.TicketUpdatedEvent().load(
        json.loads((PAYLOADS / "tickets.ticket_updated.v1.json").read_text())
    )
    assert (old["actor_kind"], old["quiet"], old["batch_id"]) == ("person", False, None)
    new = tickets_contract.TicketUpdatedEvent().load(
        json.loads((PAYLOADS / "tickets.ticket_updated.v2.json").read_text())
    )
    assert (new["actor_kind"], new["quiet"]) == ("integration", True) and new["batch_id"]
