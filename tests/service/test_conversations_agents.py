"""Agents at work on threads: replies emailed with the right recipients and threading headers
(after commit, with retries), notes kept internal, the access rule on every path, moves between
the inbox and the help desk, print, attachments."""

from __future__ import annotations

import base64
import email
from email import policy
from pathlib import Path
from typing import Any

import pytest

from services.chassis.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.chassis.mail.transport import PermanentSendError, TransientSendError
from services.conversations import contract
from services.conversations.sender import MailSender
from tests.service.conversations_harness import (
    ACCOUNT,
    ADMIN,
    AGENT,
    NOBODY,
    OWNED,
    OWNED_MOVER,
    SUPPORT,
    Conversations,
    mail,
)

pytestmark = pytest.mark.db
SAMPLES = Path(__file__).resolve().parents[1] / "unit" / "mail_samples"


def new_thread(conversations: Conversations, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    conversations.deliver(mail(**kwargs))
    ticket = conversations.tickets.created[-1]
    threads = conversations.as_(AGENT).ticket_threads(ticket["id"])
    return ticket["id"], threads["items"][-1]


def test_a_reply_goes_to_the_customer_with_the_cc_and_threads_back(conversations: Conversations) -> None:
    ticket_id, thread = new_thread(
        conversations,
        subject="Broken",
        message_id="c1@example.com",
        cc="Boss <boss@example.com>, support@helpdesk.test",
    )
    reply = conversations.as_(AGENT).add_message(thread["id"], {"kind": "reply", "body": "Fixed."})
    assert reply["delivery"]["state"] == "queued" and reply["author_id"] == AGENT.user_id
    [queued] = conversations.outgoing()
    sent = email.message_from_bytes(bytes(queued.raw), policy=policy.default)
    assert sent["To"] == "customer@example.com" and sent["Cc"] == "boss@example.com"
    assert sent["Subject"] == f"Re: Broken [#{ticket_id}]"
    assert sent["In-Reply-To"] == "<c1@example.com>" and "<c1@example.com>" in sent["References"]
    assert sent["Message-ID"] == f"<{reply['email_message_id']}>"
    assert "Agnes Agent" in sent["From"] and SUPPORT in sent["From"]
    assert sent.get_body(("plain",)).get_content().strip() == "Fixed."  # type: ignore[union-attr]


def test_the_agent_may_choose_the_recipients(conversations: Conversations) -> None:
    _ticket_id, thread = new_thread(conversations, cc="boss@example.com")
    body = {"kind": "reply", "body": "Only you.", "to": ["other@example.com"], "cc": []}
    reply = conversations.as_(AGENT).add_message(thread["id"], body)
    assert [p["email"] for p in reply["to"]] == ["other@example.com"] and reply["cc"] == []


def test_a_note_is_never_sent_and_keeps_its_mentions(conversations: Conversations) -> None:
    _ticket_id, thread = new_thread(conversations)
    note = conversations.as_(AGENT).add_message(
        thread["id"], {"kind": "note", "body": "@Ada look", "mentions": [1, 1]}
    )
    assert note["delivery"] is None and note["mentions"] == [1] and conversations.outgoing() == []
    added = conversations.events(contract.MESSAGE_ADDED)[-1][1]
    assert added["kind"] == "note" and added["mentions"] == [1] and added["author_id"] == AGENT.user_id


def test_a_chat_reply_is_not_emailed(conversations: Conversations) -> None:
    chat = conversations.as_(AGENT).intake(
        {"channel": "chat", "from": {"email": "v@example.com"}, "body": "Hi"}
    )
    reply = conversations.as_(AGENT).add_message(chat["thread_id"], {"kind": "reply", "body": "Hello"})
    assert reply["delivery"]["state"] == "sent" and conversations.outgoing() == []


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "customer", "body": "x"},
        {"kind": "reply", "body": ""},
        {"kind": "reply", "body": "x", "to": ["not an address"]},
        {"kind": "reply", "body": "x", "colour": "red"},
        {"kind": "reply", "body": "x", "attachments": [{"filename": "a", "content_b64": "***"}]},
    ],
)
def test_bad_messages_are_refused_and_change_nothing(
    conversations: Conversations, body: dict[str, Any]
) -> None:
    _ticket_id, thread = new_thread(conversations)
    with pytest.raises(ValidationFailed):
        conversations.as_(AGENT).add_message(thread["id"], body)
    assert conversations.outgoing() == [] and len(conversations.events(contract.MESSAGE_ADDED)) == 1


def test_a_thread_of_a_ticket_you_may_not_see_does_not_exist_for_you(conversations: Conversations) -> None:
    ticket_id, thread = new_thread(conversations)
    conversations.tickets.hidden_from[OWNED.user_id] = {ticket_id}
    api = conversations.as_(OWNED)
    for call in (
        lambda: api.get_thread(thread["id"]),
        lambda: api.thread_messages(thread["id"]),
        lambda: api.ticket_threads(ticket_id),
        lambda: api.add_message(thread["id"], {"kind": "note", "body": "x"}),
        lambda: api.print_thread(thread["id"]),
    ):
        with pytest.raises(NotFound):
            call()
    with pytest.raises(Forbidden):
        conversations.as_(NOBODY).get_thread(thread["id"])


def test_moving_a_thread_to_the_inbox_keeps_the_ticket_and_back_gives_a_new_one(
    conversations: Conversations,
) -> None:
    ticket_id, thread = new_thread(conversations)
    with pytest.raises(Forbidden):
        conversations.as_(AGENT).move_thread(thread["id"], {"to": "inbox"})
    admin = conversations.as_(ACCOUNT)
    moved = admin.move_thread(
        thread["id"], {"to": "inbox", "owner_id": 2, "comment": "For sales", "status": 3}
    )
    assert moved["location"] == "inbox" and moved["ticket_id"] is None and moved["owner_id"] == 2
    assert conversations.tickets.updates == [(ticket_id, {"status": 3})]
    assert [m["kind"] for m in admin.thread_messages(thread["id"])["items"]] == ["customer", "note"]
    assert admin.list_inbox({})["total"] == 1
    assert conversations.as_(AGENT).list_inbox({})["total"] == 1  # assigned to the agent
    with pytest.raises(Conflict):
        admin.move_thread(thread["id"], {"to": "inbox"})
    back = admin.move_thread(thread["id"], {"to": "helpdesk"})
    assert back["location"] == "helpdesk" and back["ticket_id"] not in (None, ticket_id)
    again = admin.move_thread(back["id"], {"to": "inbox"})
    joined = admin.move_thread(again["id"], {"to": "helpdesk", "ticket_id": ticket_id})
    assert joined["ticket_id"] == ticket_id
    moves = conversations.events(contract.THREAD_MOVED)
    assert [(p["from_location"], p["to_location"]) for _, p in moves] == [
        ("helpdesk", "inbox"),
        ("inbox", "helpdesk"),
        ("helpdesk", "inbox"),
        ("inbox", "helpdesk"),
    ]


@pytest.mark.parametrize(
    ("to", "owner_id", "problem"),
    [
        ("inbox", 99999999, "user 99999999 does not exist"),
        ("helpdesk", 99999999, "user 99999999 does not exist"),
        ("helpdesk", NOBODY.user_id, f"user {NOBODY.user_id} has neither service nor sales access"),
    ],
)
def test_a_move_naming_an_owner_who_cannot_own_tickets_is_refused_and_changes_nothing(
    conversations: Conversations, to: str, owner_id: int, problem: str
) -> None:
    _ticket_id, thread = new_thread(conversations)
    admin = conversations.as_(ACCOUNT)
    if to == "helpdesk":
        admin.move_thread(thread["id"], {"to": "inbox"})
    before = admin.get_thread(thread["id"])
    moves, made = len(conversations.events(contract.THREAD_MOVED)), len(conversations.tickets.created)
    with pytest.raises(ValidationFailed) as refused:
        admin.move_thread(thread["id"], {"to": to, "owner_id": owner_id, "comment": "yours"})
    assert refused.value.extra["errors"] == {"owner_id": [problem]}
    assert admin.get_thread(thread["id"]) == before
    assert len(conversations.events(contract.THREAD_MOVED)) == moves
    assert len(conversations.tickets.created) == made and conversations.tickets.updates == []


def test_the_owner_a_move_to_the_help_desk_names_owns_the_new_ticket(conversations: Conversations) -> None:
    _ticket_id, thread = new_thread(conversations)
    mover = conversations.as_(OWNED_MOVER)
    mover.move_thread(thread["id"], {"to": "inbox"})
    moved = mover.move_thread(thread["id"], {"to": "helpdesk", "owner_id": OWNED_MOVER.user_id})
    new_ticket = conversations.tickets.created[-1]
    assert moved["ticket_id"] == new_ticket["id"] and moved["owner_id"] == OWNED_MOVER.user_id
    assert new_ticket["owner_id"] == OWNED_MOVER.user_id  # so an owned-only mover still sees it


def test_a_thread_s_inbox_owner_owns_its_new_ticket_while_they_may(conversations: Conversations) -> None:
    admin = conversations.as_(ACCOUNT)
    _ticket_id, thread = new_thread(conversations)
    admin.move_thread(thread["id"], {"to": "inbox", "owner_id": AGENT.user_id})
    admin.move_thread(thread["id"], {"to": "helpdesk"})
    assert conversations.tickets.created[-1]["owner_id"] == AGENT.user_id
    _ticket_id, other = new_thread(conversations, subject="Second")
    admin.move_thread(other["id"], {"to": "inbox", "owner_id": OWNED.user_id})
    del conversations.permissions.people[OWNED.user_id]  # has left since
    moved = admin.move_thread(other["id"], {"to": "helpdesk"})
    assert moved["owner_id"] is None and conversations.tickets.created[-1].get("owner_id") is None


def test_a_move_onto_a_named_ticket_gives_it_the_owner_only_if_it_has_none(
    conversations: Conversations,
) -> None:
    admin = conversations.as_(ACCOUNT)
    ticket_id, _thread = new_thread(conversations, subject="Unowned")
    threads = [new_thread(conversations, subject=f"Later {n}")[1] for n in range(2)]
    for thread in threads:
        admin.move_thread(thread["id"], {"to": "inbox"})
    joined = admin.move_thread(
        threads[0]["id"], {"to": "helpdesk", "ticket_id": ticket_id, "owner_id": AGENT.user_id}
    )
    assert joined["ticket_id"] == ticket_id and conversations.tickets.owners[ticket_id] == AGENT.user_id
    assert conversations.tickets.updates == [(ticket_id, {"owner_id": AGENT.user_id})]
    admin.move_thread(threads[1]["id"], {"to": "helpdesk", "ticket_id": ticket_id, "owner_id": OWNED.user_id})
    assert (
        conversations.tickets.owners[ticket_id] == AGENT.user_id and len(conversations.tickets.updates) == 1
    )


def test_a_move_never_overwrites_an_owner_given_to_the_named_ticket_meanwhile(
    conversations: Conversations,
) -> None:
    admin = conversations.as_(ACCOUNT)
    ticket_id, _thread = new_thread(conversations, subject="Unowned")
    _other, thread = new_thread(conversations, subject="Later")
    admin.move_thread(thread["id"], {"to": "inbox"})
    conversations.tickets.meanwhile.append({"owner_id": ADMIN.user_id})
    joined = admin.move_thread(
        thread["id"], {"to": "helpdesk", "ticket_id": ticket_id, "owner_id": AGENT.user_id}
    )
    assert joined["ticket_id"] == ticket_id and conversations.tickets.owners[ticket_id] == ADMIN.user_id
    assert conversations.tickets.updates == []


def test_print_shows_customer_and_agent_messages_only_sanitised(conversations: Conversations) -> None:
    hostile = (
        "<b>Hi</b><script>alert(1)</script><img src=x onerror=alert(2)><a href='javascript:alert(3)'>x</a>"
    )
    raw = (
        mail(subject="Print me", extra="X-Test: 1")
        .replace(b"Content-Type: text/plain; charset=utf-8", b"Content-Type: text/html; charset=utf-8")
        .replace(b"Hello,\r\nthe printer is on fire.\r\n", hostile.encode())
    )
    conversations.deliver(raw)
    ticket = conversations.tickets.created[-1]
    thread = conversations.as_(AGENT).ticket_threads(ticket["id"])["items"][0]
    conversations.as_(AGENT).add_message(thread["id"], {"kind": "note", "body": "internal secret"})
    conversations.as_(AGENT).add_message(thread["id"], {"kind": "reply", "body": "public answer"})
    page = conversations.as_(AGENT).print_thread(thread["id"])
    html = page["html"]
    assert "internal secret" not in html and "public answer" in html and "Print me" in html
    assert f"#{ticket['id']}" in html
    for bad in ("<script", "onerror", "javascript:"):
        assert bad not in html.lower()
    assert (
        "script-src" not in page["content_security_policy"]
        and "default-src 'none'" in page["content_security_policy"]
    )


def test_print_names_the_agent_and_the_customer_of_a_chat_reply(conversations: Conversations) -> None:
    chat = conversations.as_(AGENT).intake(
        {"channel": "chat", "from": {"email": "v@example.com", "name": "Vera Visitor"}, "body": "Hi there"}
    )
    conversations.as_(AGENT).add_message(chat["thread_id"], {"kind": "reply", "body": "Hello Vera"})
    html = conversations.as_(AGENT).print_thread(chat["thread_id"])["html"]
    reply = html.split("<article>")[2]
    assert "<dt>From</dt><dd>Agnes Agent</dd>" in reply
    assert "<dt>To</dt><dd>Vera Visitor &lt;v@example.com&gt;</dd>" in reply


def test_attachments_and_inline_images_are_served_to_those_who_see_the_thread(
    conversations: Conversations,
) -> None:
    conversations.deliver((SAMPLES / "inline_cid.eml").read_bytes())
    ticket = conversations.tickets.created[-1]
    thread = conversations.as_(AGENT).ticket_threads(ticket["id"])["items"][0]
    [message] = thread["messages"]
    assert message["attachments"]
    inline = next(a for a in message["attachments"] if a["inline"])
    assert f"/api/v1/attachments/{inline['id']}" in message["html"] and "cid:" not in message["html"]
    found = conversations.as_(AGENT).get_attachment(inline["id"])
    assert len(base64.b64decode(found["content_b64"])) == inline["size"]
    conversations.tickets.hidden_from[OWNED.user_id] = {ticket["id"]}
    with pytest.raises(NotFound):
        conversations.as_(OWNED).get_attachment(inline["id"])


def test_an_attachment_you_may_not_see_answers_as_one_that_does_not_exist(
    conversations: Conversations,
) -> None:
    conversations.deliver((SAMPLES / "inline_cid.eml").read_bytes())
    ticket = conversations.tickets.created[-1]
    [message] = conversations.as_(AGENT).ticket_threads(ticket["id"])["items"][0]["messages"]
    hidden, unknown = message["attachments"][0]["id"], 99999999
    conversations.tickets.hidden_from[OWNED.user_id] = {ticket["id"]}
    for attachment_id in (hidden, unknown):
        with pytest.raises(NotFound) as refused:
            conversations.as_(OWNED).get_attachment(attachment_id)
        assert refused.value.detail == f"attachment {attachment_id} does not exist"
        with pytest.raises(Forbidden):  # without ticket access: refused before anything is looked up
            conversations.as_(NOBODY).get_attachment(attachment_id)


def test_a_reply_with_a_file_carries_it_in_the_mail(conversations: Conversations) -> None:
    _ticket_id, thread = new_thread(conversations)
    upload = {
        "filename": "faktura.pdf",
        "content_type": "application/pdf",
        "content_b64": base64.b64encode(b"%PDF-1").decode(),
    }
    reply = conversations.as_(AGENT).add_message(
        thread["id"], {"kind": "reply", "body": "See attached.", "attachments": [upload]}
    )
    assert [a["filename"] for a in reply["attachments"]] == ["faktura.pdf"]
    sent = email.message_from_bytes(bytes(conversations.outgoing()[0].raw), policy=policy.default)
    files = [part.get_filename() for part in sent.iter_attachments()]
    assert files == ["faktura.pdf"]


class FakeTransport:
    blocking = False

    def __init__(self, *outcomes: Exception | None) -> None:
        self.outcomes = list(outcomes)
        self.sent: list[tuple[str, list[str], bytes]] = []

    def send(self, mail_from: str, recipients: list[str], raw: bytes) -> None:
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        self.sent.append((mail_from, recipients, raw))


def _sender(conversations: Conversations, transport: FakeTransport) -> MailSender:
    sender = MailSender.__new__(MailSender)
    sender.transport = transport
    sender._store = lambda: conversations.store  # type: ignore[method-assign]
    return sender


def test_the_sender_retries_a_busy_relay_and_marks_a_refused_mail_failed(
    conversations: Conversations,
) -> None:
    _ticket_id, thread = new_thread(conversations)
    api = conversations.as_(AGENT)
    first = api.add_message(thread["id"], {"kind": "reply", "body": "one"})
    transport = FakeTransport(TransientSendError("421 busy", 421))
    sender = _sender(conversations, transport)
    assert sender.send_due() == 1 and transport.sent == []
    message = api.thread_messages(thread["id"])["items"][-1]
    assert message["delivery"]["state"] == "queued" and message["delivery"]["attempts"] == 1
    assert sender.send_due() == 0  # not due again before its back-off
    with conversations.engine.begin() as conn:  # the back-off has passed
        conn.exec_driver_sql("UPDATE outgoing_mail SET next_attempt_at = '2000-01-01 00:00:00'")
    assert sender.send_due() == 1 and len(transport.sent) == 1
    assert api.thread_messages(thread["id"])["items"][-1]["delivery"]["state"] == "sent"
    api.add_message(thread["id"], {"kind": "reply", "body": "two"})
    transport.outcomes.append(PermanentSendError("550 no such user", 550))
    sender.send_due()
    last = api.thread_messages(thread["id"])["items"][-1]
    assert last["delivery"]["state"] == "failed" and "550" in last["delivery"]["reason"]
    states = [p["state"] for _, p in conversations.events(contract.MESSAGE_DELIVERY_CHANGED)]
    assert states == ["sent", "failed"]
    assert first["delivery"]["state"] == "queued"
