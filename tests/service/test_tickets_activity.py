"""Per-user state of a ticket through the tickets service: following and read marks."""

from __future__ import annotations

from typing import Any

import pytest
from nameko.testing.services import worker_factory

from services.tickets import contract
from services.tickets.service import TicketsService
from tests.service.tickets_harness import ADMIN, AGENT, SALES, Tickets

pytestmark = pytest.mark.db


def test_nobody_follows_until_they_ask(tickets: Tickets) -> None:
    ticket = tickets.as_(AGENT).create_ticket({"name": "Printer", "owner_id": AGENT.user_id})
    assert ticket["following"] is False
    assert tickets.as_(AGENT).followers(ticket["id"]) == {"items": [], "next_cursor": None, "total": 0}


def test_follow_and_unfollow_are_idempotent(tickets: Tickets) -> None:
    ticket = tickets.as_(ADMIN).create_ticket({"name": "Printer"})
    agent = tickets.as_(AGENT)
    assert agent.follow(ticket["id"]) == {"ticket_id": ticket["id"], "following": True}
    assert agent.follow(ticket["id"]) == {"ticket_id": ticket["id"], "following": True}
    tickets.as_(SALES).follow(ticket["id"])
    assert agent.get_ticket(ticket["id"])["following"] is True
    assert tickets.as_(ADMIN).get_ticket(ticket["id"])["following"] is False
    followers = agent.followers(ticket["id"])
    assert [f["user_id"] for f in followers["items"]] == [AGENT.user_id, SALES.user_id]
    assert followers["total"] == 2 and followers["items"][0]["since"].endswith("+00:00")
    first = agent.followers(ticket["id"], {"limit": "1"})
    second = agent.followers(ticket["id"], {"limit": "1", "cursor": first["next_cursor"]})
    assert [f["user_id"] for f in first["items"] + second["items"]] == [AGENT.user_id, SALES.user_id]
    assert second["next_cursor"] is None
    assert agent.unfollow(ticket["id"]) == {"ticket_id": ticket["id"], "following": False}
    assert agent.unfollow(ticket["id"]) == {"ticket_id": ticket["id"], "following": False}
    assert [f["user_id"] for f in agent.followers(ticket["id"])["items"]] == [SALES.user_id]
    followed = tickets.events(contract.TICKET_FOLLOWED)
    unfollowed = tickets.events(contract.TICKET_UNFOLLOWED)
    assert [p["user_id"] for _, p in followed] == [AGENT.user_id, SALES.user_id]
    assert [p["user_id"] for _, p in unfollowed] == [AGENT.user_id]
    assert tickets.as_(ADMIN).get_ticket(ticket["id"])["version"] == 1  # following is not an edit


def test_a_new_ticket_is_unread_for_everyone_but_its_creator(tickets: Tickets) -> None:
    ticket = tickets.as_(AGENT).create_ticket({"name": "Printer"})
    assert ticket["unread"] is False
    assert tickets.as_(AGENT).list_tickets({})["items"][0]["unread"] is False
    assert tickets.as_(ADMIN).list_tickets({})["items"][0]["unread"] is True
    assert tickets.as_(ADMIN).get_ticket(ticket["id"], mark_read=False)["unread"] is True
    assert tickets.as_(ADMIN).get_ticket(ticket["id"])["unread"] is False  # opening it marks it read
    assert tickets.as_(ADMIN).list_tickets({})["items"][0]["unread"] is False
    assert tickets.as_(SALES).list_tickets({})["items"][0]["unread"] is True  # per user


def test_mark_read_and_unread(tickets: Tickets) -> None:
    ticket = tickets.as_(ADMIN).create_ticket({"name": "Printer"})
    agent = tickets.as_(AGENT)
    assert agent.mark_read(ticket["id"]) == {"ticket_id": ticket["id"], "unread": False}
    assert agent.list_tickets({"view": "unread"})["total"] == 0
    assert agent.mark_unread(ticket["id"]) == {"ticket_id": ticket["id"], "unread": True}
    assert agent.mark_unread(ticket["id"]) == {"ticket_id": ticket["id"], "unread": True}
    assert agent.list_tickets({"view": "unread"})["total"] == 1
    assert (
        tickets.as_(ADMIN).list_tickets({"view": "unread"})["total"] == 0
    )  # the creator's mark is untouched


def test_internal_actions_keep_read_state_and_a_customer_message_makes_it_unread(tickets: Tickets) -> None:
    ticket = tickets.as_(ADMIN).create_ticket({"name": "Printer"})
    agent = tickets.as_(AGENT)
    agent.get_ticket(ticket["id"])
    agent.update_ticket(ticket["id"], {"owner_id": SALES.user_id, "status": 3, "priority": "high"})
    assert tickets.as_(ADMIN).list_tickets({})["items"][0]["unread"] is False
    assert agent.list_tickets({})["items"][0]["unread"] is False
    before = agent.get_ticket(ticket["id"])
    tickets.as_(ADMIN).customer_message_received(ticket["id"])
    for caller in (ADMIN, AGENT):
        item = tickets.as_(caller).list_tickets({})["items"][0]
        assert item["unread"] is True
        assert item["updated_at"] > before["updated_at"] and item["version"] == before["version"]
    assert agent.get_ticket(ticket["id"])["unread"] is False
    assert tickets.as_(ADMIN).list_tickets({"view": "unread"})["total"] == 1


def _message_added(tickets: Tickets, ticket_id: int, kind: str, **fields: Any) -> None:
    """What the conversations service announces, handed to the tickets service's handler."""
    payload = {
        "event_id": fields.pop("event_id", f"e-{kind}-{ticket_id}-{len(tickets.events())}"),
        "occurred_at": "2026-12-01T10:00:00+00:00",
        "thread_id": fields.pop("thread_id", 1),
        "ticket_id": ticket_id,
        "message_id": fields.pop("message_id", 1),
        "kind": kind,
        "channel": "email",
        "author_id": fields.pop("author_id", None),
        "auto": fields.pop("auto", None),
        "mentions": [],
        "at": "2026-12-01T10:00:00+00:00",
    }
    worker_factory(TicketsService, store=tickets.store).handle_message_added(payload)


def test_messages_on_a_ticket_make_it_unread_set_reply_times_and_assign_the_replier(tickets: Tickets) -> None:
    admin, agent = tickets.as_(ADMIN), tickets.as_(AGENT)
    ticket = admin.create_ticket({"name": "from a customer"})
    agent.get_ticket(ticket["id"])
    admin.get_ticket(ticket["id"])
    _message_added(tickets, ticket["id"], "customer", event_id="customer-1")
    _message_added(tickets, ticket["id"], "customer", event_id="customer-1")  # redelivered: once
    assert agent.get_ticket(ticket["id"], mark_read=False)["unread"] is True
    seen = admin.get_ticket(ticket["id"])
    assert seen["last_customer_message_at"] == "2026-12-01T10:00:00+00:00" and seen["owner_id"] is None
    _message_added(tickets, ticket["id"], "note", author_id=AGENT.user_id)
    assert admin.get_ticket(ticket["id"], mark_read=False)["unread"] is False  # internal: still read
    _message_added(tickets, ticket["id"], "customer", auto="auto-reply")
    assert admin.get_ticket(ticket["id"], mark_read=False)["unread"] is False  # automatic: nothing
    _message_added(tickets, ticket["id"], "reply", author_id=AGENT.user_id)
    replied = admin.get_ticket(ticket["id"])
    assert replied["owner_id"] == AGENT.user_id and replied["first_reply_at"] is not None
    assigned = tickets.events("ticket_assigned")[-1][1]
    assert assigned["owner_id"] == AGENT.user_id and assigned["actor_id"] == AGENT.user_id
    _message_added(tickets, ticket["id"], "reply", author_id=ADMIN.user_id)
    assert admin.get_ticket(ticket["id"])["owner_id"] == AGENT.user_id  # an owner stays


def test_each_message_and_each_move_of_a_thread_is_on_the_timeline_once(tickets: Tickets) -> None:
    """SPEC: the activity timeline has every message and move, with who and when."""
    admin = tickets.as_(ADMIN)
    ticket, other = admin.create_ticket({"name": "mailed"}), admin.create_ticket({"name": "other"})
    tid = ticket["id"]
    _message_added(tickets, tid, "customer", event_id="m-1", message_id=11, thread_id=5)
    _message_added(tickets, tid, "customer", event_id="m-1", message_id=11, thread_id=5)  # redelivered
    _message_added(tickets, tid, "note", event_id="m-2", message_id=12, thread_id=5, author_id=AGENT.user_id)
    _message_added(tickets, tid, "customer", event_id="m-3", message_id=13, thread_id=5, auto="bounce")
    service = worker_factory(TicketsService, store=tickets.store)
    moved = {"occurred_at": "2026-12-01T10:00:00+00:00", "thread_id": 5, "owner_id": None}
    to_inbox = {**moved, "event_id": "t-1", "ticket_id": None, "previous_ticket_id": tid}
    to_inbox |= {"from_location": "helpdesk", "to_location": "inbox", "actor_id": AGENT.user_id}
    service.handle_thread_moved(to_inbox)
    service.handle_thread_moved(to_inbox)  # redelivered
    back = {**moved, "event_id": "t-2", "ticket_id": other["id"], "previous_ticket_id": tid}
    back |= {"from_location": "inbox", "to_location": "helpdesk", "actor_id": ADMIN.user_id}
    service.handle_thread_moved(back)

    def entries(ticket_id: int) -> list[tuple[str, int, str | None, Any, Any]]:
        items = admin.timeline(ticket_id)["items"]
        return [(i["type"], i["actor_id"], i["field"], i["old"], i["new"]) for i in reversed(items)]

    assert entries(tid)[1:] == [
        ("message", 0, "customer", None, {"message_id": 11, "thread_id": 5}),
        ("message", AGENT.user_id, "note", None, {"message_id": 12, "thread_id": 5}),
        ("message", 0, "customer", None, {"message_id": 13, "thread_id": 5, "auto": "bounce"}),
        (
            "thread_moved",
            AGENT.user_id,
            "thread",
            {"thread_id": 5, "location": "helpdesk", "ticket_id": tid},
            {"thread_id": 5, "location": "inbox", "ticket_id": None},
        ),
    ]
    assert entries(other["id"])[1:] == [
        (
            "thread_moved",
            ADMIN.user_id,
            "thread",
            {"thread_id": 5, "location": "inbox", "ticket_id": None},
            {"thread_id": 5, "location": "helpdesk", "ticket_id": other["id"]},
        )
    ]


def test_a_customer_writing_again_reopens_a_closed_ticket_and_automatic_mail_never_does(
    tickets: Tickets,
) -> None:
    admin = tickets.as_(ADMIN)
    ticket = admin.create_ticket({"name": "done", "status": 4})  # Closed, default pipeline
    tid = ticket["id"]
    _message_added(tickets, tid, "customer", auto="auto-reply")
    _message_added(tickets, tid, "note", author_id=AGENT.user_id)
    _message_added(tickets, tid, "reply", author_id=AGENT.user_id)
    still = admin.get_ticket(tid)
    assert still["status"] == 4 and still["closed_at"] is not None
    _message_added(tickets, tid, "customer")
    reopened = admin.get_ticket(tid)
    assert reopened["status"] == 1 and reopened["closed_at"] is None  # New: the first open stage
    change = next(i for i in admin.timeline(tid)["items"] if i["type"] == "property_changed")
    assert (change["field"], change["old"], change["new"], change["actor_id"]) == ("status", 4, 1, 0)
    assert [p["ticket_id"] for _kind, p in tickets.events("ticket_reopened")] == [tid]
    _message_added(tickets, tid, "customer")  # open already: stays where it is
    assert admin.get_ticket(tid)["status"] == 1


def test_other_services_ask_which_tickets_a_caller_may_see(tickets: Tickets) -> None:
    admin = tickets.as_(ADMIN)
    mine = admin.create_ticket({"name": "sales", "owner_id": SALES.user_id})
    other = admin.create_ticket({"name": "agent", "owner_id": AGENT.user_id})
    assert tickets.as_(SALES).visible_tickets([mine["id"], other["id"], 999]) == [mine["id"]]
    assert sorted(tickets.as_(ADMIN).visible_tickets([other["id"], mine["id"]])) == sorted(
        [mine["id"], other["id"]]
    )
