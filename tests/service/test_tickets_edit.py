"""Creating and changing tickets through the tickets service: validation, versions,
stage moves, associations, bulk updates, and the timeline and events they leave."""

from __future__ import annotations

from typing import Any

import eventlet
import pytest

from services.chassis.errors import Forbidden, NotFound, PreconditionFailed, ValidationFailed
from services.tickets import contract
from tests.service.tickets_harness import ADMIN, AGENT, NOBODY, OWNED, SALES, Tickets

pytestmark = pytest.mark.db


NEW, WAITING_CONTACT, WAITING_US, CLOSED = 1, 2, 3, 4  # stages of the default pipeline (migration 0002)


def test_create_validates_every_property_and_reports_all_problems(tickets: Tickets) -> None:
    api = tickets.as_(AGENT)
    with pytest.raises(ValidationFailed) as exc:
        api.create_ticket({"name": "x", "pipeline_id": 99, "owner_id": 999})
    assert set(exc.value.errors) == {"pipeline_id", "owner_id"}
    assert "does not exist" in exc.value.errors["owner_id"][0]
    with pytest.raises(ValidationFailed) as exc:
        api.create_ticket({"name": "x", "status": 99, "owner_id": NOBODY.user_id, "priority": "critical"})
    assert set(exc.value.errors) == {"priority"}  # the schema refuses before anything is looked up
    with pytest.raises(ValidationFailed) as exc:
        api.create_ticket({"name": "x", "status": 99, "owner_id": NOBODY.user_id})
    assert set(exc.value.errors) == {"status", "owner_id"}
    assert "neither service nor sales access" in exc.value.errors["owner_id"][0]
    assert tickets.events() == []  # nothing was created


def test_a_nul_character_anywhere_in_the_input_is_a_422_on_both_databases(tickets: Tickets) -> None:
    """PostgreSQL's text cannot hold NUL: refused as the client's mistake, before any database."""
    api = tickets.as_(AGENT)
    for body, field in (
        ({"name": "x", "description": "a\x00b"}, "description"),
        ({"name": "x", "category": "\x00"}, "category"),
        ({"name": "x", "associations": {"contacts": [1], "deals\x00": [2]}}, "associations"),
    ):
        with pytest.raises(ValidationFailed) as exc:
            api.create_ticket(body)
        assert exc.value.errors == {field: ["must not contain NUL (U+0000) characters"]}
    ticket = api.create_ticket({"name": "x"})
    with pytest.raises(ValidationFailed):
        api.update_ticket(ticket["id"], {"description": "\x00"})
    with pytest.raises(ValidationFailed) as exc:
        api.list_tickets({"q": "\x00"})
    assert set(exc.value.errors) == {"q"}
    assert api.get_ticket(ticket["id"])["description"] == ""
    assert [kind for kind, _ in tickets.events()] == [contract.TICKET_CREATED]


def test_create_with_a_valid_owner_announces_the_assignment(tickets: Tickets) -> None:
    ticket = tickets.as_(AGENT).create_ticket(
        {"name": "Printer", "owner_id": SALES.user_id, "status": CLOSED}
    )
    assert ticket["owner_id"] == SALES.user_id and ticket["closed_at"] is not None
    assert (
        tickets.as_(AGENT).create_ticket({"name": "x", "owner_id": ADMIN.user_id})["owner_id"]
        == ADMIN.user_id
    )
    kinds = [kind for kind, payload in tickets.events() if payload["ticket_id"] == ticket["id"]]
    assert kinds == [contract.TICKET_CREATED, contract.TICKET_ASSIGNED]


def test_patch_bumps_the_version_once_per_real_change(tickets: Tickets) -> None:
    api = tickets.as_(AGENT)
    ticket = api.create_ticket({"name": "Printer"})
    assert ticket["version"] == 1
    changed = api.update_ticket(ticket["id"], {"priority": "high", "description": "toner"})
    assert (changed["version"], changed["priority"], changed["description"]) == (2, "high", "toner")
    assert changed["updated_at"] > ticket["updated_at"]
    same = api.update_ticket(ticket["id"], {"priority": "high", "name": "Printer"})
    assert same["version"] == 2 and same["updated_at"] == changed["updated_at"]
    assert api.update_ticket(ticket["id"], {})["version"] == 2
    updates = tickets.events(contract.TICKET_UPDATED)
    assert len(updates) == 1
    assert updates[0][1]["changes"] == {"priority": ["medium", "high"], "description": ["", "toner"]}
    contract.TicketUpdatedEvent().load(updates[0][1])


def test_if_match_guards_against_lost_updates(tickets: Tickets) -> None:
    api = tickets.as_(AGENT)
    ticket = api.create_ticket({"name": "Printer"})
    api.update_ticket(ticket["id"], {"priority": "low"}, expected_versions=[1])
    with pytest.raises(PreconditionFailed) as exc:
        api.update_ticket(ticket["id"], {"priority": "urgent"}, expected_versions=[1])
    assert exc.value.extra["current_version"] == 2
    with pytest.raises(PreconditionFailed):  # even a no-op is refused when stale
        api.update_ticket(ticket["id"], {}, expected_versions=[1])
    now = api.get_ticket(ticket["id"])
    assert (now["priority"], now["version"]) == ("low", 2)
    assert api.update_ticket(ticket["id"], {"priority": "urgent"}, expected_versions=[1, 2])["version"] == 3


def test_patch_refusals_change_nothing(tickets: Tickets) -> None:
    api = tickets.as_(AGENT)
    ticket = api.create_ticket({"name": "Printer"})
    refusals = [
        ({"version": 5}, "version"),
        ({"id": 9}, "id"),
        ({"closed_at": None}, "closed_at"),
        ({"colour": "red"}, "colour"),
        ({"priority": "critical"}, "priority"),
        ({"status": 99}, "status"),
        ({"pipeline_id": 99}, "pipeline_id"),
        ({"owner_id": 999}, "owner_id"),
        ({"owner_id": NOBODY.user_id}, "owner_id"),
        ({"status": "2"}, "status"),
    ]
    for body, field in refusals:
        with pytest.raises(ValidationFailed) as exc:
            api.update_ticket(ticket["id"], body)
        assert field in exc.value.errors, body
    assert api.get_ticket(ticket["id"])["version"] == 1
    assert tickets.events(contract.TICKET_UPDATED) == []


def test_status_must_be_a_stage_of_the_tickets_pipeline(tickets: Tickets) -> None:
    billing = tickets.as_(ADMIN).create_pipeline(
        {
            "label": "Billing",
            "stages": [{"label": "Open", "state": "OPEN"}, {"label": "Paid", "state": "CLOSED"}],
        }
    )
    open_, paid = (s["id"] for s in billing["stages"])
    api = tickets.as_(AGENT)
    ticket = api.create_ticket({"name": "Invoice"})
    with pytest.raises(ValidationFailed) as exc:
        api.update_ticket(ticket["id"], {"status": paid})
    assert "status" in exc.value.errors
    moved = api.update_ticket(ticket["id"], {"pipeline_id": billing["id"]})
    assert (moved["pipeline_id"], moved["status"]) == (billing["id"], open_)  # lands in the first stage
    assert api.update_ticket(ticket["id"], {"status": paid})["closed_at"] is not None
    back = api.update_ticket(ticket["id"], {"pipeline_id": 1, "status": WAITING_US})
    assert (back["pipeline_id"], back["status"], back["closed_at"]) == (1, WAITING_US, None)


def test_moving_into_and_out_of_a_closed_stage(tickets: Tickets) -> None:
    api = tickets.as_(AGENT)
    ticket = api.create_ticket({"name": "Printer", "owner_id": AGENT.user_id})
    assert ticket["closed_at"] is None
    closed = api.update_ticket(ticket["id"], {"status": CLOSED})
    assert closed["closed_at"] is not None
    reopened = api.update_ticket(ticket["id"], {"status": WAITING_CONTACT})
    assert reopened["closed_at"] is None
    kinds = [kind for kind, _ in tickets.events()]
    assert kinds.count(contract.TICKET_STATUS_CHANGED) == 2
    assert kinds.count(contract.TICKET_CLOSED) == 1 and kinds.count(contract.TICKET_REOPENED) == 1
    changed = tickets.events(contract.TICKET_STATUS_CHANGED)[0][1]
    assert (changed["old_status"], changed["new_status"], changed["owner_id"]) == (NEW, CLOSED, AGENT.user_id)
    for kind, payload in tickets.events():
        contract.EVENT_SCHEMAS[kind]().load(payload)


def test_assigning_and_unassigning(tickets: Tickets) -> None:
    api = tickets.as_(AGENT)
    ticket = api.create_ticket({"name": "Printer"})
    assert api.update_ticket(ticket["id"], {"owner_id": SALES.user_id})["owner_id"] == SALES.user_id
    assert api.update_ticket(ticket["id"], {"owner_id": None})["owner_id"] is None
    assigned = [p for _, p in tickets.events(contract.TICKET_ASSIGNED)]
    assert [(p["previous_owner_id"], p["owner_id"]) for p in assigned] == [
        (None, SALES.user_id),
        (SALES.user_id, None),
    ]


def test_timeline_records_changes_newest_first_and_never_reads(tickets: Tickets) -> None:
    api = tickets.as_(AGENT)
    ticket = api.create_ticket({"name": "Printer"})
    api.update_ticket(ticket["id"], {"priority": "urgent", "owner_id": AGENT.user_id})
    api.add_association(ticket["id"], "contacts", 77)
    api.remove_association(ticket["id"], "contacts", 77)
    api.follow(ticket["id"])
    api.unfollow(ticket["id"])
    api.get_ticket(ticket["id"])
    api.mark_unread(ticket["id"])
    api.mark_read(ticket["id"])
    page = api.timeline(ticket["id"])
    assert page["total"] == 7 and page["next_cursor"] is None
    assert [(i["type"], i["field"], i["old"], i["new"]) for i in page["items"]] == [
        ("unfollowed", None, None, None),
        ("followed", None, None, None),
        ("association_removed", "contacts", 77, None),
        ("association_added", "contacts", None, 77),
        ("property_changed", "owner_id", None, AGENT.user_id),
        ("property_changed", "priority", "medium", "urgent"),
        ("created", None, None, None),
    ]
    assert all(i["actor_id"] == AGENT.user_id and i["at"].endswith("+00:00") for i in page["items"])
    first = api.timeline(ticket["id"], {"limit": "3"})
    second = api.timeline(ticket["id"], {"limit": "3", "cursor": first["next_cursor"]})
    third = api.timeline(ticket["id"], {"limit": "3", "cursor": second["next_cursor"]})
    assert [i["id"] for i in first["items"] + second["items"] + third["items"]] == [
        i["id"] for i in page["items"]
    ]
    assert third["next_cursor"] is None
    for bad in ({"limit": "0"}, {"limit": "101"}, {"cursor": "nope"}):
        with pytest.raises(ValidationFailed):
            api.timeline(ticket["id"], bad)


def test_associations_are_idempotent_and_versioned(tickets: Tickets) -> None:
    api = tickets.as_(AGENT)
    ticket = api.create_ticket({"name": "Printer", "associations": {"companies": [5, 5, 3]}})
    assert ticket["associations"] == {"contacts": [], "companies": [3, 5], "deals": []}
    added = api.add_association(ticket["id"], "deals", 9)
    assert added["associations"]["deals"] == [9] and added["version"] == 2
    assert api.add_association(ticket["id"], "deals", 9)["version"] == 2
    removed = api.remove_association(ticket["id"], "companies", 5)
    assert removed["associations"]["companies"] == [3] and removed["version"] == 3
    assert api.remove_association(ticket["id"], "companies", 5)["version"] == 3
    with pytest.raises(ValidationFailed) as exc:
        api.add_association(ticket["id"], "invoices", 1)
    assert "kind" in exc.value.errors
    kinds = [kind for kind, _ in tickets.events()]
    assert kinds.count(contract.TICKET_ASSOCIATION_ADDED) == 1
    assert kinds.count(contract.TICKET_ASSOCIATION_REMOVED) == 1


def test_bulk_update_reports_each_ticket(tickets: Tickets) -> None:
    admin = tickets.as_(ADMIN)
    mine = tickets.as_(OWNED).create_ticket({"name": "mine", "owner_id": OWNED.user_id})
    theirs = admin.create_ticket({"name": "theirs", "owner_id": AGENT.user_id})
    closed = admin.create_ticket({"name": "closed", "owner_id": OWNED.user_id, "status": CLOSED})
    results = tickets.as_(OWNED).bulk_update(
        {
            "ids": [mine["id"], theirs["id"], 999, closed["id"]],
            "changes": {"priority": "urgent", "status": CLOSED},
        }
    )["results"]
    assert [r["status"] for r in results] == [200, 404, 404, 200]
    assert results[0]["ticket"]["priority"] == "urgent" and results[0]["ticket"]["closed_at"] is not None
    assert results[1]["error"]["status"] == 404 and "ticket" not in results[1]
    assert admin.get_ticket(theirs["id"])["priority"] == "medium"
    bad = tickets.as_(ADMIN).bulk_update({"ids": [mine["id"]], "changes": {"owner_id": NOBODY.user_id}})
    assert bad["results"][0]["status"] == 422 and "owner_id" in bad["results"][0]["error"]["errors"]
    with pytest.raises(ValidationFailed):
        admin.bulk_update({"ids": [mine["id"]], "changes": {}})


def test_callers_without_ticket_access_are_refused_everywhere(tickets: Tickets) -> None:
    ticket = tickets.as_(ADMIN).create_ticket({"name": "Printer"})
    api = tickets.as_(NOBODY)
    calls = [
        lambda: api.list_tickets({}),
        lambda: api.board({}),
        lambda: api.list_pipelines(),
        lambda: api.create_ticket({"name": "x"}),
        lambda: api.get_ticket(ticket["id"]),
        lambda: api.get_ticket(999),
        lambda: api.update_ticket(ticket["id"], {"name": "y"}),
        lambda: api.bulk_update({"ids": [ticket["id"]], "changes": {"priority": "low"}}),
        lambda: api.timeline(ticket["id"]),
        lambda: api.follow(ticket["id"]),
        lambda: api.unfollow(ticket["id"]),
        lambda: api.followers(ticket["id"]),
        lambda: api.mark_read(ticket["id"]),
        lambda: api.mark_unread(ticket["id"]),
        lambda: api.add_association(ticket["id"], "contacts", 1),
        lambda: api.remove_association(ticket["id"], "contacts", 1),
    ]
    for call in calls:
        with pytest.raises(Forbidden):
            call()


def test_invisible_tickets_do_not_exist(tickets: Tickets) -> None:
    hidden = tickets.as_(ADMIN).create_ticket({"name": "someone else's", "owner_id": AGENT.user_id})
    api = tickets.as_(OWNED)
    calls = [
        lambda: api.get_ticket(hidden["id"]),
        lambda: api.update_ticket(hidden["id"], {"name": "y"}),
        lambda: api.update_ticket(hidden["id"], {"owner_id": OWNED.user_id}),
        lambda: api.update_ticket(hidden["id"], {}, expected_versions=[99]),
        lambda: api.timeline(hidden["id"]),
        lambda: api.follow(hidden["id"]),
        lambda: api.unfollow(hidden["id"]),
        lambda: api.followers(hidden["id"]),
        lambda: api.mark_read(hidden["id"]),
        lambda: api.mark_unread(hidden["id"]),
        lambda: api.add_association(hidden["id"], "contacts", 1),
        lambda: api.remove_association(hidden["id"], "contacts", 1),
        lambda: api.customer_message_received(hidden["id"]),
    ]
    for call in calls:
        with pytest.raises(NotFound):
            call()
    assert tickets.as_(ADMIN).get_ticket(hidden["id"])["version"] == 1
    assert [kind for kind, _ in tickets.events()] == [contract.TICKET_CREATED, contract.TICKET_ASSIGNED]


def test_concurrent_edits_with_the_same_if_match_one_wins(tickets: Tickets) -> None:
    agent, admin = tickets.as_(AGENT), tickets.as_(ADMIN)

    def edit(api: Any, ticket_id: int, priority: str) -> str:
        try:
            api.update_ticket(ticket_id, {"priority": priority}, expected_versions=[1])
            return "ok"
        except PreconditionFailed:
            return "stale"

    for _ in range(5):
        ticket_id = admin.create_ticket({"name": "Printer"})["id"]
        first = eventlet.spawn(edit, agent, ticket_id, "high")
        second = eventlet.spawn(edit, admin, ticket_id, "low")
        assert sorted([first.wait(), second.wait()]) == ["ok", "stale"]
        assert admin.get_ticket(ticket_id)["version"] == 2
        updates = [p for _, p in tickets.events(contract.TICKET_UPDATED) if p["ticket_id"] == ticket_id]
        assert len(updates) == 1
