"""Splitting messages of a ticket's email thread off to a new ticket (SPEC "Split")."""

from __future__ import annotations

from typing import Any

import pytest

from services.chassis.errors import Conflict, SeatRequired, ValidationFailed
from services.tickets import contract
from tests.service.lifecycle_harness import AGENT, SEATED, World, mail

pytestmark = pytest.mark.db
CLOSED = 4  # the default pipeline's Closed stage


def messages_of(world: World, ticket_id: int) -> list[dict[str, Any]]:
    threads = world.conversations(SEATED).ticket_threads(ticket_id)["items"]
    return [m for t in threads for m in t["messages"]]


def test_split_moves_the_chosen_messages_to_a_new_ticket(world: World) -> None:
    made = world.email_ticket(subject="Two problems", messages=3)
    source = made["ticket_id"]
    chosen = [m["id"] for m in messages_of(world, source)[1:]]
    new = world.tickets(SEATED).split_ticket(
        source, {"message_ids": chosen, "ticket": {"name": "Second problem", "priority": "high"}}
    )
    assert new["name"] == "Second problem" and new["priority"] == "high" and new["in_progress"] is None
    assert [m["id"] for m in messages_of(world, new["id"])] == chosen
    assert len(messages_of(world, source)) == 1
    into = world.tickets(SEATED).timeline(source)["items"][0]
    from_ = world.tickets(SEATED).timeline(new["id"])["items"][0]
    assert (into["type"], into["new"]["ticket_id"]) == ("split_into", new["id"])
    assert (from_["type"], from_["new"]["ticket_id"]) == ("split_from", source)
    [split] = world.events("tickets", contract.TICKET_SPLIT)
    assert (split["ticket_id"], split["new_ticket_id"], split["message_ids"]) == (source, new["id"], chosen)
    assert new["id"] in {e["ticket_id"] for e in world.events("tickets", contract.TICKET_CREATED)}


def test_a_reply_to_a_moved_message_lands_on_the_new_ticket(world: World) -> None:
    made = world.email_ticket(subject="Two problems", messages=2, sender="Cora <cora@example.com>")
    moved = messages_of(world, made["ticket_id"])[1]
    new = world.tickets(SEATED).split_ticket(
        made["ticket_id"], {"message_ids": [moved["id"]], "ticket": {"name": "Second"}}
    )
    world.deliver(
        mail(
            subject="Re: Two problems",
            in_reply_to=moved["email_message_id"],
            sender="Cora <cora@example.com>",
        )
    )
    assert len(messages_of(world, new["id"])) == 2
    assert len(messages_of(world, made["ticket_id"])) == 1


def test_split_needs_a_seat_and_refuses_what_spec_refuses(world: World) -> None:
    made = world.email_ticket(messages=2)
    one = world.email_ticket(subject="Single")
    tid = made["ticket_id"]
    ids = [m["id"] for m in messages_of(world, tid)]
    body = {"message_ids": ids[:1], "ticket": {"name": "x"}}
    with pytest.raises(SeatRequired):
        world.tickets(AGENT).split_ticket(tid, body)
    api = world.tickets(SEATED)
    with pytest.raises(ValidationFailed, match="not all"):
        api.split_ticket(tid, {"message_ids": ids, "ticket": {"name": "x"}})
    single = messages_of(world, one["ticket_id"])[0]["id"]
    with pytest.raises(ValidationFailed, match="one message"):
        api.split_ticket(one["ticket_id"], {"message_ids": [single], "ticket": {"name": "x"}})
    with pytest.raises(ValidationFailed, match="not messages of ticket"):
        api.split_ticket(tid, {"message_ids": [single], "ticket": {"name": "x"}})
    with pytest.raises(ValidationFailed):
        api.split_ticket(tid, {"message_ids": ids[:1], "ticket": {}})
    api.update_ticket(tid, {"status": CLOSED})
    with pytest.raises(Conflict, match="closed"):
        api.split_ticket(tid, body)
    assert len(world.tickets_rows()) == 2 and world.events("tickets", contract.TICKET_SPLIT) == []


def test_chat_threads_cannot_be_split(world: World) -> None:
    made = world.conversations(AGENT).intake(
        {"channel": "chat", "from": {"email": "c@example.com"}, "subject": "hi", "body": "one"}
    )
    world.conversations(AGENT).intake(
        {"channel": "chat", "from": {"email": "c@example.com"}, "body": "two", "thread_id": made["thread_id"]}
    )
    first = messages_of(world, made["ticket_id"])[0]["id"]
    with pytest.raises(ValidationFailed, match="email"):
        world.tickets(SEATED).split_ticket(
            made["ticket_id"], {"message_ids": [first], "ticket": {"name": "x"}}
        )


def test_a_split_finishes_after_conversations_comes_back(world: World) -> None:
    made = world.email_ticket(messages=2)
    chosen = [messages_of(world, made["ticket_id"])[1]["id"]]
    # conversations answers the pre-check, then goes down before the messages move
    original = world.conversations_store.lifecycle.check_split

    def check_then_fall(**kwargs: Any) -> int:
        result = original(**kwargs)
        world.down.add("conversations")
        return result

    world.conversations_store.lifecycle.check_split = check_then_fall  # type: ignore[method-assign]
    new = world.tickets(SEATED).split_ticket(
        made["ticket_id"], {"message_ids": chosen, "ticket": {"name": "later"}}
    )
    assert new["in_progress"] == "split"
    assert world.events("tickets", contract.TICKET_SPLIT) == []
    world.down.clear()
    world.resume()
    assert world.tickets(SEATED).get_ticket(new["id"])["in_progress"] is None
    assert [m["id"] for m in messages_of(world, new["id"])] == chosen
    assert len(world.events("tickets", contract.TICKET_SPLIT)) == 1


def test_a_split_undone_when_the_messages_moved_meanwhile(world: World) -> None:
    made = world.email_ticket(messages=3)
    ids = [m["id"] for m in messages_of(world, made["ticket_id"])]
    original = world.conversations_store.lifecycle.check_split

    def check_then_race(**kwargs: Any) -> int:  # another split takes the messages in between
        result = original(**kwargs)
        world.conversations_store.lifecycle.split(
            key="other", ticket_id=made["ticket_id"], message_ids=ids[1:], new_ticket_id=999
        )
        return result

    world.conversations_store.lifecycle.check_split = check_then_race  # type: ignore[method-assign]
    with pytest.raises(Conflict) as refused:
        world.tickets(SEATED).split_ticket(
            made["ticket_id"], {"message_ids": ids[1:], "ticket": {"name": "x"}}
        )
    job = world.tickets(SEATED).get_job(refused.value.extra["job_id"])
    assert job["state"] == "failed" and "not messages of ticket" in job["error"]
    assert len(world.tickets_rows()) == 1  # the new ticket is gone
    assert world.tickets(SEATED).get_ticket(made["ticket_id"])["in_progress"] is None
