"""Customers writing in: email (as the SMTP edge hands it over) and chat/form intake become
threads with exactly one ticket each; answers thread back; duplicates, automatic mail,
bounces and sender rules are handled as SPEC.md says."""

from __future__ import annotations

import base64
import email
from email import policy
from pathlib import Path
from typing import Any

import pytest

from services.chassis.errors import ValidationFailed
from services.chassis.idempotency import REPLAYED
from services.conversations import contract
from tests.service.conversations_harness import ACCOUNT, AGENT, SUPPORT, Conversations, mail

pytestmark = pytest.mark.db
SAMPLES = Path(__file__).resolve().parents[1] / "unit" / "mail_samples"


def only_thread(conversations: Conversations, ticket_id: int) -> dict[str, Any]:
    threads = conversations.as_(AGENT).ticket_threads(ticket_id)
    assert threads["total"] == 1
    return threads["items"][0]


def test_a_new_mail_becomes_a_thread_with_one_ticket(conversations: Conversations) -> None:
    conversations.deliver(mail(subject="Printer on fire", message_id="first@example.com"))
    [ticket] = conversations.tickets.created
    assert ticket["name"] == "Printer on fire" and ticket["source"] == "email"
    assert "printer is on fire" in ticket["description"]
    thread = only_thread(conversations, ticket["id"])
    assert thread["channel"] == "email" and thread["location"] == "helpdesk"
    assert thread["customer"] == {"email": "customer@example.com", "name": "Cora Customer"}
    [message] = thread["messages"]
    assert message["kind"] == "customer" and message["email_message_id"] == "first@example.com"
    kinds = [kind for kind, _ in conversations.events()]
    assert kinds == [contract.THREAD_CREATED, contract.MESSAGE_ADDED, contract.THREAD_ATTACHED]


def test_the_same_message_id_delivered_twice_is_stored_once(conversations: Conversations) -> None:
    raw = mail(message_id="twice@example.com")
    conversations.deliver(raw)
    conversations.deliver(raw)
    [ticket] = conversations.tickets.created
    assert only_thread(conversations, ticket["id"])["message_count"] == 1
    assert len(conversations.events(contract.MESSAGE_ADDED)) == 1


def test_an_answer_to_our_reply_lands_on_the_same_thread(conversations: Conversations) -> None:
    conversations.deliver(mail(message_id="q@example.com"))
    [ticket] = conversations.tickets.created
    thread = only_thread(conversations, ticket["id"])
    reply = conversations.as_(AGENT).add_message(thread["id"], {"kind": "reply", "body": "Unplug it."})
    conversations.deliver(mail(subject="Re: Printer on fire", in_reply_to=reply["email_message_id"]))
    assert len(conversations.tickets.created) == 1
    thread = only_thread(conversations, ticket["id"])
    assert [m["kind"] for m in thread["messages"]] == ["customer", "reply", "customer"]
    added = conversations.events(contract.MESSAGE_ADDED)[-1][1]
    assert added["kind"] == "customer" and added["ticket_id"] == ticket["id"] and added["auto"] is None


def test_a_client_that_drops_the_headers_threads_by_the_subject_reference(
    conversations: Conversations,
) -> None:
    conversations.deliver(mail(message_id="q2@example.com"))
    [ticket] = conversations.tickets.created
    conversations.deliver(mail(subject=f"Re: Printer on fire [#{ticket['id']}]"))
    assert len(conversations.tickets.created) == 1
    assert only_thread(conversations, ticket["id"])["message_count"] == 2


def test_a_stranger_cannot_write_into_a_ticket_by_its_number(conversations: Conversations) -> None:
    conversations.deliver(mail(message_id="q3@example.com"))
    [ticket] = conversations.tickets.created
    conversations.deliver(mail(subject=f"Re: [#{ticket['id']}]", sender="mallory@evil.example"))
    assert len(conversations.tickets.created) == 2
    assert only_thread(conversations, ticket["id"])["message_count"] == 1


def _subject_of_reply(conversations: Conversations) -> str:
    """The subject of the last mail we queued (what a customer's client answers with ``Re:``)."""
    return str(email.message_from_bytes(conversations.outgoing()[-1].raw, policy=policy.default)["Subject"])


def test_a_form_customer_answering_our_mail_by_its_reference_only_joins_the_ticket(
    conversations: Conversations,
) -> None:
    form = {"channel": "form", "from": {"email": "Fay@Example.com"}, "subject": "Need help", "body": "Hi"}
    started = conversations.as_(AGENT).intake(form)
    conversations.as_(AGENT).add_message(started["thread_id"], {"kind": "reply", "body": "Tell us more"})
    subject = _subject_of_reply(conversations)
    assert subject == f"Need help [#{started['ticket_id']}]"
    conversations.deliver(mail(subject=f"Re: {subject}", sender="Fay <fay@example.com>"))
    assert len(conversations.tickets.created) == 1
    thread = only_thread(conversations, started["ticket_id"])
    assert [m["kind"] for m in thread["messages"]] == ["customer", "reply", "customer"]
    conversations.deliver(mail(subject=f"Re: {subject}", sender="stranger@evil.example"))
    assert len(conversations.tickets.created) == 2  # a stranger still gets a ticket of their own
    assert only_thread(conversations, started["ticket_id"])["message_count"] == 3


def test_someone_cc_d_on_our_reply_threads_by_the_reference(conversations: Conversations) -> None:
    conversations.deliver(mail(message_id="cc-q@example.com"))
    [ticket] = conversations.tickets.created
    thread = only_thread(conversations, ticket["id"])
    body = {"kind": "reply", "body": "Looping in your boss", "cc": ["Boss@Example.com"]}
    conversations.as_(AGENT).add_message(thread["id"], body)
    conversations.deliver(mail(subject=f"Re: {_subject_of_reply(conversations)}", sender="boss@example.com"))
    assert len(conversations.tickets.created) == 1
    assert only_thread(conversations, ticket["id"])["message_count"] == 3


def test_a_chat_customer_writing_by_mail_gets_a_mailed_thread_on_their_ticket(
    conversations: Conversations,
) -> None:
    chat = {"channel": "chat", "from": {"email": "vi@example.com", "name": "Vi"}, "body": "Printer?"}
    started = conversations.as_(AGENT).intake(chat)
    conversations.deliver(mail(subject=f"More on [#{started['ticket_id']}]", sender="Vi <vi@example.com>"))
    assert len(conversations.tickets.created) == 1
    threads = conversations.as_(AGENT).ticket_threads(started["ticket_id"])["items"]
    [mailed] = [t for t in threads if t["id"] != started["thread_id"]]
    assert mailed["channel"] == "email" and mailed["customer"]["email"] == "vi@example.com"
    assert mailed["location"] == "helpdesk" and mailed["ticket_id"] == started["ticket_id"]
    assert conversations.events(contract.THREAD_ATTACHED)[-1][1]["thread_id"] == mailed["id"]
    assert conversations.events(contract.MESSAGE_ADDED)[-1][1]["ticket_id"] == started["ticket_id"]
    reply = conversations.as_(AGENT).add_message(mailed["id"], {"kind": "reply", "body": "Answered"})
    assert reply["delivery"]["state"] == "queued" and [p["email"] for p in reply["to"]] == ["vi@example.com"]


def test_a_from_that_is_no_address_falls_back_to_the_envelope_sender(conversations: Conversations) -> None:
    conversations.deliver(mail(sender="not an address at all"), mail_from="real@example.com")
    [ticket] = conversations.tickets.created
    thread = only_thread(conversations, ticket["id"])
    assert thread["customer"]["email"] == "real@example.com"
    reply = conversations.as_(AGENT).add_message(thread["id"], {"kind": "reply", "body": "Hello"})
    assert reply["delivery"]["state"] == "queued" and conversations.outgoing()[0].recipients_json == (
        '["real@example.com"]'
    )


def test_an_out_of_office_reply_to_nothing_goes_to_the_inbox_without_a_ticket(
    conversations: Conversations,
) -> None:
    conversations.deliver((SAMPLES / "out_of_office.eml").read_bytes())
    assert conversations.tickets.created == []
    inbox = conversations.as_(ACCOUNT).list_inbox({})
    assert inbox["total"] == 1 and inbox["items"][0]["location"] == "inbox"
    assert conversations.events(contract.MESSAGE_ADDED)[0][1]["auto"] == "auto-reply"


def test_a_bounce_of_our_reply_marks_it_failed_and_is_recorded_as_automatic(
    conversations: Conversations,
) -> None:
    conversations.deliver(mail(message_id="q4@example.com"))
    [ticket] = conversations.tickets.created
    thread = only_thread(conversations, ticket["id"])
    reply = conversations.as_(AGENT).add_message(thread["id"], {"kind": "reply", "body": "On our way."})
    bounce = (SAMPLES / "dsn_bounce.eml").read_bytes()
    original = email.message_from_bytes(bounce, policy=policy.default)
    sample_id = ""
    for part in original.walk():
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
            text = part.as_string() if part.is_multipart() else part.get_payload(decode=False)
            for line in str(text).splitlines():
                if line.lower().startswith("message-id:"):
                    sample_id = line.split(":", 1)[1].strip().strip("<>")
    assert sample_id, "the sample bounce names the message it reports"
    conversations.deliver(
        bounce.replace(sample_id.encode(), reply["email_message_id"].encode()), mail_from=""
    )
    thread = only_thread(conversations, ticket["id"])
    failed = thread["messages"][1]
    assert failed["delivery"]["state"] == "failed" and failed["delivery"]["reason"]
    assert thread["messages"][-1]["auto"] == "bounce"
    changed = conversations.events(contract.MESSAGE_DELIVERY_CHANGED)
    assert [(p["message_id"], p["state"]) for _, p in changed] == [(reply["id"], "failed")]


def test_deny_listed_senders_go_to_spam_and_allow_lists_win(conversations: Conversations) -> None:
    admin = conversations.as_(ACCOUNT)
    admin.add_sender_rule({"pattern": "@spam.example", "action": "deny"})
    admin.add_sender_rule({"pattern": "friend@spam.example", "action": "allow"})
    conversations.deliver(mail(sender="bot@spam.example"))
    assert conversations.tickets.created == []
    conversations.deliver(mail(sender="friend@spam.example"))
    assert len(conversations.tickets.created) == 1
    with pytest.raises(ValidationFailed):
        admin.add_sender_rule({"pattern": "not a pattern", "action": "deny"})


def test_polish_mail_in_legacy_charsets_is_read(conversations: Conversations) -> None:
    for name in ("webmail_iso8859_2.eml", "webmail_cp1250.eml"):
        conversations.deliver((SAMPLES / name).read_bytes())
    texts = [
        only_thread(conversations, t["id"])["messages"][0]["text"] for t in conversations.tickets.created
    ]
    assert all(any(ch in text for ch in "ąęłńóśźżĄĘŁŃÓŚŹŻ") for text in texts)


def test_chat_intake_starts_a_thread_and_a_ticket_and_continues_it(conversations: Conversations) -> None:
    api = conversations.as_(AGENT)
    body = {
        "channel": "chat",
        "from": {"email": "Visitor@Example.com", "name": "Vi"},
        "subject": "",
        "body": "Hi!",
    }
    first = api.intake(body, idempotency_key="chat-1")
    assert first["ticket_id"] == conversations.tickets.created[0]["id"]
    assert (
        conversations.tickets.created[0]["name"] == "Hi!"
        and conversations.tickets.created[0]["source"] == "chat"
    )
    assert api.intake(body, idempotency_key="chat-1") == {**first, REPLAYED: True}  # stores nothing new
    more = api.intake({**body, "body": "Anyone?", "thread_id": first["thread_id"]})
    assert more["thread_id"] == first["thread_id"] and more["ticket_id"] == first["ticket_id"]
    with pytest.raises(ValidationFailed):
        api.intake({**body, "channel": "form", "thread_id": first["thread_id"]})
    assert len(conversations.tickets.created) == 1


def test_a_thread_waits_for_its_ticket_while_tickets_is_down_and_gets_exactly_one(
    conversations: Conversations,
) -> None:
    conversations.tickets.down = True
    conversations.deliver(mail(message_id="wait@example.com"))
    assert conversations.tickets.created == []
    service = conversations.service(None)
    service.sweep_pending_tickets()
    conversations.tickets.down = False
    service.sweep_pending_tickets()
    service.sweep_pending_tickets()
    [ticket] = conversations.tickets.created
    assert only_thread(conversations, ticket["id"])["ticket_id"] == ticket["id"]
    assert conversations.store.threads.pending(limit=10) == []


def test_a_subject_the_tickets_service_would_refuse_as_a_name_still_gets_its_thread_a_ticket(
    conversations: Conversations,
) -> None:
    for n, mark in enumerate(["\u202e", "\u2066", "\x85", "\x00", "\t"]):
        subject = f"=?utf-8?b?{base64.b64encode(f'Invoice {mark}{n} due'.encode()).decode()}?="
        conversations.deliver(mail(subject=subject, message_id=f"odd-{n}@example.com"))
    assert [t["name"] for t in conversations.tickets.created] == [f"Invoice {n} due" for n in range(5)]
    assert conversations.store.threads.pending(limit=10) == []


def test_one_thread_whose_ticket_is_refused_holds_up_no_other_and_gets_a_plain_one(
    conversations: Conversations,
) -> None:
    conversations.tickets.down = True
    conversations.deliver(mail(subject="Refused name", message_id="refused@example.com"))
    conversations.deliver(mail(subject="Fine name", message_id="fine@example.com"))
    conversations.tickets.down = False
    conversations.tickets.refused_names.add("Refused name")
    conversations.service(None).sweep_pending_tickets()
    names = sorted(t["name"] for t in conversations.tickets.created)
    assert names == ["(no subject)", "Fine name"]
    assert conversations.store.threads.pending(limit=10) == []


def test_unreadable_mail_goes_to_the_dead_letters_not_nowhere(conversations: Conversations) -> None:
    with pytest.raises(ValidationFailed):
        conversations.deliver((SAMPLES / "nesting_bomb.eml").read_bytes())
    assert conversations.tickets.created == []


def test_an_intake_replay_is_marked_for_the_gateway(conversations: Conversations) -> None:
    api = conversations.as_(AGENT)
    body = {"channel": "form", "from": {"email": "f@example.com"}, "subject": "Form", "body": "Text"}
    first = api.intake(body, idempotency_key="form-1")
    assert REPLAYED not in first
    assert api.intake(body, idempotency_key="form-1") == {**first, REPLAYED: True}  # Idempotent-Replayed
    assert SUPPORT
