"""Per-user state of a ticket through the tickets service: following and read marks."""

from __future__ import annotations

import pytest

from services.tickets import contract
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
