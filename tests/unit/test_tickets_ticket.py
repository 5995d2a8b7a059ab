"""The Ticket domain object: what a change changes, and which entries and events follow.

Every event a Ticket decides on is checked against the tickets contract (through the
same Outbox encoder the store uses), so a rule cannot invent a payload the contract
does not describe."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import MetaData

from services.chassis.domain import Event
from services.chassis.outbox import Outbox
from services.tickets import contract
from services.tickets.domain import NO_CHANGE, Change, Entry, Stage, Ticket, follow_change

T0 = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(hours=1)
NEW, WAITING, CLOSED, ARCHIVED = (
    Stage(1, 1, "OPEN"),
    Stage(2, 1, "OPEN"),
    Stage(4, 1, "CLOSED"),
    Stage(5, 1, "CLOSED"),
)
OTHER_PIPELINE_FIRST = Stage(7, 2, "OPEN")
CONTRACT = Outbox(MetaData(), contract.EVENT_SCHEMAS)


def ticket(**overrides: Any) -> Ticket:
    fields: dict[str, Any] = {
        "id": 9,
        "name": "Printer",
        "description": "",
        "pipeline_id": 1,
        "status": NEW.id,
        "state": "OPEN",
        "priority": "medium",
        "category": None,
        "owner_id": None,
        "team_id": None,
        "source": "api",
        "closed_at": None,
        "version": 3,
    }
    return Ticket(**{**fields, **overrides})


def kinds(change: Change) -> list[str]:
    return [event.type for event in change.events]


def assert_in_contract(events: tuple[Event, ...] | list[Event]) -> None:
    for event in events:
        CONTRACT.encode(event.type, {"event_id": "e", "occurred_at": T0.isoformat(), **event.payload})


def test_search_text_follows_the_name_and_the_description() -> None:
    described = ticket(description="Toner LOW").change(
        actor_id=2, requested={"description": "Paper JAM"}, stage=None, now=T1
    )
    assert described.values["search_text"] == "printer\npaper jam"
    assert (
        "search_text"
        not in ticket().change(actor_id=2, requested={"priority": "high"}, stage=None, now=T1).values
    )


def test_a_patch_that_changes_nothing_is_no_change() -> None:
    same = ticket().change(
        actor_id=2, requested={"name": "Printer", "priority": "medium"}, stage=None, now=T1
    )
    assert same is NO_CHANGE and not same


def test_a_change_bumps_the_version_once_and_writes_an_entry_per_field() -> None:
    change = ticket().change(actor_id=2, requested={"name": "Laser", "priority": "high"}, stage=None, now=T1)
    assert change.values == {"name": "Laser", "priority": "high", "version": 4, "search_text": "laser\n"}
    assert change.entries == (
        Entry("property_changed", "name", "Printer", "Laser"),
        Entry("property_changed", "priority", "medium", "high"),
    )
    assert kinds(change) == [contract.TICKET_UPDATED]
    assert change.events[0].payload["changes"] == {
        "name": ["Printer", "Laser"],
        "priority": ["medium", "high"],
    }
    assert_in_contract(change.events)


def test_assigning_announces_the_assignment_with_the_previous_owner() -> None:
    change = ticket(owner_id=4).change(actor_id=2, requested={"owner_id": 6}, stage=None, now=T1)
    assert kinds(change) == [contract.TICKET_UPDATED, contract.TICKET_ASSIGNED]
    assert change.events[1].payload == {"ticket_id": 9, "actor_id": 2, "owner_id": 6, "previous_owner_id": 4}
    assert_in_contract(change.events)


def test_closing_stamps_closed_at_and_says_so() -> None:
    change = ticket().change(actor_id=2, requested={"status": CLOSED.id}, stage=CLOSED, now=T1)
    assert change.values["closed_at"] == T1
    assert kinds(change) == [contract.TICKET_UPDATED, contract.TICKET_STATUS_CHANGED, contract.TICKET_CLOSED]
    assert_in_contract(change.events)


def test_moving_between_closed_stages_keeps_the_first_closing_time() -> None:
    closed = ticket(status=CLOSED.id, state="CLOSED", closed_at=T0)
    change = closed.change(actor_id=2, requested={"status": ARCHIVED.id}, stage=ARCHIVED, now=T1)
    assert change.values["closed_at"] == T0
    assert kinds(change) == [contract.TICKET_UPDATED, contract.TICKET_STATUS_CHANGED]


def test_reopening_clears_closed_at_and_says_so() -> None:
    closed = ticket(status=CLOSED.id, state="CLOSED", closed_at=T0)
    change = closed.change(actor_id=2, requested={"status": WAITING.id}, stage=WAITING, now=T1)
    assert change.values["closed_at"] is None
    assert kinds(change)[-1] == contract.TICKET_REOPENED
    assert_in_contract(change.events)


def test_a_pipeline_change_takes_the_resolved_stage() -> None:
    change = ticket().change(actor_id=2, requested={"pipeline_id": 2}, stage=OTHER_PIPELINE_FIRST, now=T1)
    assert change.values["pipeline_id"] == 2 and change.values["status"] == OTHER_PIPELINE_FIRST.id
    assert contract.TICKET_STATUS_CHANGED in kinds(change)


def test_fields_outside_the_editable_ones_are_ignored() -> None:
    assert ticket().change(actor_id=2, requested={"version": 99, "id": 1}, stage=None, now=T1) is NO_CHANGE


@pytest.mark.parametrize("added", [True, False])
def test_an_association_change_is_a_new_version_with_an_entry_and_an_event(added: bool) -> None:
    change = ticket().associate(actor_id=2, kind="contacts", ref_id=77, added=added)
    assert change.values == {"version": 4}
    entry = change.entries[0]
    assert (entry.type, entry.field) == ("association_added" if added else "association_removed", "contacts")
    assert entry.columns() == (
        {"field": "contacts", "new": 77} if added else {"field": "contacts", "old": 77}
    )
    assert_in_contract(change.events)


@pytest.mark.parametrize("following", [True, False])
def test_following_is_recorded_without_a_new_version(following: bool) -> None:
    change = follow_change(9, 5, following=following)
    assert change.values == {}
    assert kinds(change) == [contract.TICKET_FOLLOWED if following else contract.TICKET_UNFOLLOWED]
    assert_in_contract(change.events)


def test_a_new_ticket_with_an_owner_announces_creation_and_assignment() -> None:
    data = {"name": "New", "owner_id": 4, "associations": {"contacts": [3, 3, 1]}}
    new = Ticket.open(actor_id=2, data=data, stage=NEW, now=T0)
    assert new.values["status"] == NEW.id and new.values["version"] == 1 and new.values["closed_at"] is None
    assert new.associations == {"contacts": [1, 3], "companies": [], "deals": []}
    events = new.events(12)
    assert [e.type for e in events] == [contract.TICKET_CREATED, contract.TICKET_ASSIGNED]
    assert_in_contract(events)


def test_a_ticket_created_in_a_closed_stage_is_closed_at_once() -> None:
    new = Ticket.open(actor_id=2, data={"name": "Done"}, stage=CLOSED, now=T0)
    assert new.values["closed_at"] == T0
    assert [e.type for e in new.events(1)] == [contract.TICKET_CREATED]
