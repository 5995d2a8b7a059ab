"""Seat features of the conversations service: ticket name and summary suggestions drawn from the
conversation (English and Polish; another candidate when asked again; nothing changes), and reply
recommendations from similar closed tickets through the database's full-text index, under the
ticket access rule."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from services.chassis.errors import Conflict, NotFound, SeatRequired, ValidationFailed
from services.chassis.identity import Caller
from services.conversations import contract
from services.tickets import contract as tickets_contract
from tests.service.conversations_harness import ADMIN, AGENT, Conversations

pytestmark = pytest.mark.db

SEATED = Caller(21, "Sam Seated", frozenset({"service_access"}), "everything", seat=True)

PRINTER = (
    "Printer shows error 42",
    "Hello,\nOur office printer stopped printing this morning. The display shows error 42 and the paper "
    "tray light blinks. Restarting the printer did not help.\nThanks,\nBob",
)
PRINTER_REPLY = "Error 42 means the tray sensor is blocked: open tray 2, remove the torn paper and restart."


def intake(world: Conversations, subject: str, body: str, email: str = "cora@example.com") -> dict[str, Any]:
    made = world.as_(ADMIN).intake(
        {"channel": "form", "from": {"email": email, "name": "Cora"}, "subject": subject, "body": body}
    )
    deliver_own_events(world)
    return dict(made)


def reply(world: Conversations, thread_id: int, body: str) -> None:
    world.as_(ADMIN).add_message(thread_id, {"kind": "reply", "body": body})
    deliver_own_events(world)


DELIVERED: set[str] = set()


def deliver_own_events(world: Conversations) -> None:
    """What the broker would do: hand the service its own new events (the index follows them)."""
    handlers = {
        contract.MESSAGE_ADDED: "handle_message_added",
        contract.THREAD_ATTACHED: "handle_thread_attached",
        contract.THREAD_MOVED: "handle_thread_moved",
    }
    for event_type, payload in world.events():
        if event_type in handlers and payload["event_id"] not in DELIVERED:
            DELIVERED.add(payload["event_id"])
            getattr(world.service(None), handlers[event_type])(payload)


def close(world: Conversations, ticket_id: int) -> None:
    world.tickets.closed.add(ticket_id)
    world.service(None).handle_ticket_closed(
        {
            "event_id": str(uuid.uuid4()),
            "occurred_at": "2026-05-04T10:00:00+00:00",
            "ticket_id": ticket_id,
            "actor_id": 1,
            "status": 4,
            "owner_id": None,
        }
    )


# -- suggestions -----------------------------------------------------------------------------------


def test_suggestions_need_a_seat(conversations: Conversations) -> None:
    made = intake(conversations, *PRINTER)
    for kind in contract.SUGGESTION_KINDS:
        with pytest.raises(SeatRequired):
            conversations.as_(AGENT).suggest(made["ticket_id"], kind)
    with pytest.raises(SeatRequired):
        conversations.as_(AGENT).reply_recommendations(made["ticket_id"])


def test_a_name_suggestion_and_another_when_asked_again(conversations: Conversations) -> None:
    made = intake(conversations, *PRINTER)
    conversations.tickets.names[made["ticket_id"]] = "Printer shows error 42"
    api = conversations.as_(SEATED)
    first = api.suggest(made["ticket_id"], "name")
    assert (
        first["kind"] == "name" and first["suggestion"] == "Our office printer stopped printing this morning"
    )
    second = api.suggest(made["ticket_id"], "name", {"exclude": [first["suggestion"]]})["suggestion"]
    assert (
        second != first["suggestion"] and second.lower() != "printer shows error 42"
    )  # never the current name
    shown = [first["suggestion"], second]
    for _ in range(5):
        shown.append(api.suggest(made["ticket_id"], "name", {"exclude": shown})["suggestion"])
    assert shown[-1] == first["suggestion"]  # every candidate shown: the best again
    assert all(len(s) <= 80 for s in shown)
    assert conversations.tickets.updates == []  # nothing changed


def test_a_summary_says_what_the_customer_asked_and_the_agent_answered(conversations: Conversations) -> None:
    made = intake(conversations, *PRINTER)
    reply(conversations, made["thread_id"], f"Hi Cora,\n{PRINTER_REPLY}\nRegards")
    summary = conversations.as_(SEATED).suggest(made["ticket_id"], "summary")["suggestion"]
    assert summary.startswith("Customer: Our office printer stopped printing this morning.")
    assert "Agent: Error 42 means the tray sensor is blocked" in summary
    assert "Thanks" not in summary and "Regards" not in summary


def test_polish_conversations_get_polish_suggestions(conversations: Conversations) -> None:
    made = intake(
        conversations,
        "Zamówienie 1234",
        "Dzień dobry,\nzamówiłem drukarkę 3 maja, ale paczka do dziś nie dotarła. Status paczki u kuriera "
        "nie zmienia się od tygodnia.\nPozdrawiam\nJan",
    )
    reply(
        conversations, made["thread_id"], "Dzień dobry,\npaczka utknęła w sortowni, wysłaliśmy nową drukarkę."
    )
    api = conversations.as_(SEATED)
    assert (
        api.suggest(made["ticket_id"], "name")["suggestion"]
        == "Zamówiłem drukarkę 3 maja, ale paczka do dziś nie dotarła"
    )
    summary = api.suggest(made["ticket_id"], "summary")["suggestion"]
    assert (
        summary.startswith("Klient: Zamówiłem drukarkę 3 maja")
        and "Agent: Paczka utknęła w sortowni" in summary
    )


def test_suggestion_refusals(conversations: Conversations) -> None:
    made = intake(conversations, *PRINTER)
    api = conversations.as_(SEATED)
    with pytest.raises(Conflict):
        api.suggest(7, "name")  # a ticket the caller may see, without a conversation
    conversations.tickets.hidden_from[SEATED.user_id] = {made["ticket_id"]}
    with pytest.raises(NotFound):
        api.suggest(made["ticket_id"], "summary")
    with pytest.raises(ValidationFailed):
        api.suggest(made["ticket_id"], "haiku")
    with pytest.raises(ValidationFailed):
        api.suggest(made["ticket_id"], "name", {"exclude": "everything"})


# -- reply recommendations -------------------------------------------------------------------------

CORPUS = [
    (PRINTER, PRINTER_REPLY),
    (
        (
            "Cannot log in",
            "I forgot my password and the reset link in the email has expired. I cannot log in.",
        ),
        "Reset links expire after 24 hours; I sent you a new password reset link just now.",
    ),
    (
        (
            "Invoice is wrong",
            "The invoice for March charges us twice for the same licence. Please correct the invoice.",
        ),
        "Sorry about the double charge: a corrected invoice for March is attached, the refund is on its way.",
    ),
    (
        ("Paczka nie dotarła", "Dzień dobry, moja paczka z zamówieniem 555 nie dotarła, kurier nic nie wie."),
        "Paczka utknęła w sortowni kuriera; wysłaliśmy zamówienie ponownie, dotrze jutro.",
    ),
]


@pytest.fixture
def resolved(conversations: Conversations) -> dict[str, int]:
    """Four closed tickets, each with a customer question and the agent's answer."""
    found = {}
    for (subject, body), answer in CORPUS:
        made = intake(conversations, subject, body, email=f"{uuid.uuid4().hex[:8]}@example.com")
        reply(conversations, made["thread_id"], answer)
        close(conversations, made["ticket_id"])
        found[subject] = made["ticket_id"]
    return found


def test_recommendations_come_from_the_most_similar_closed_tickets(
    conversations: Conversations, resolved: dict[str, int]
) -> None:
    new = intake(
        conversations, "Printing problem", "The printer says error 42, what does it mean? Paper is stuck."
    )
    items = conversations.as_(SEATED).reply_recommendations(new["ticket_id"])["items"]
    assert 1 <= len(items) <= contract.MAX_RECOMMENDATIONS
    best = items[0]
    assert best["source_ticket_id"] == resolved["Printer shows error 42"] and best["body"] == PRINTER_REPLY
    assert best["score"] > 0 and [i["score"] for i in items] == sorted(
        (i["score"] for i in items), reverse=True
    )
    assert new["ticket_id"] not in {i["source_ticket_id"] for i in items}
    polish = intake(
        conversations, "Gdzie moja paczka?", "Moje paczki nadal nie ma, kurier nie dostarczył zamówienia."
    )
    items = conversations.as_(SEATED).reply_recommendations(polish["ticket_id"])["items"]
    assert items[0]["source_ticket_id"] == resolved["Paczka nie dotarła"]


def test_recommendations_skip_tickets_the_caller_may_not_see_or_that_are_open(
    conversations: Conversations, resolved: dict[str, int]
) -> None:
    printer = resolved["Printer shows error 42"]
    new = intake(conversations, "Error 42", "Printer error 42 again, paper tray blinking.")
    conversations.tickets.hidden_from[SEATED.user_id] = {printer}
    seen = {
        i["source_ticket_id"]
        for i in conversations.as_(SEATED).reply_recommendations(new["ticket_id"])["items"]
    }
    assert printer not in seen
    conversations.tickets.hidden_from.clear()
    conversations.tickets.closed.discard(printer)  # reopened; the tickets service has the last word
    seen = {
        i["source_ticket_id"]
        for i in conversations.as_(SEATED).reply_recommendations(new["ticket_id"])["items"]
    }
    assert printer not in seen
    conversations.service(None).handle_ticket_reopened(
        {
            "event_id": str(uuid.uuid4()),
            "occurred_at": "2026-05-04T11:00:00+00:00",
            "ticket_id": printer,
            "actor_id": 1,
            "status": 1,
            "owner_id": None,
        }
    )
    conversations.tickets.hidden_from[SEATED.user_id] = {new["ticket_id"]}
    with pytest.raises(NotFound):
        conversations.as_(SEATED).reply_recommendations(new["ticket_id"])


def test_no_similar_ticket_no_recommendation(conversations: Conversations, resolved: dict[str, int]) -> None:
    new = intake(conversations, "Zebra", "Quokka xylophone.")
    assert conversations.as_(SEATED).reply_recommendations(new["ticket_id"]) == {"items": []}
    assert tickets_contract.SERVICE_NAME == "tickets"
