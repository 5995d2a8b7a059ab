"""The conversations service's rules: routing inbound messages, sender rules, reply recipients
and threading, and the printable page (run through the whole XSS corpus)."""

from __future__ import annotations

import datetime as dt

import pytest

from services.chassis.mail.refs import mail_domain
from services.conversations.domain import routing
from services.conversations.domain.incoming import Incoming, ticket_fields
from services.conversations.domain.printing import (
    CONTENT_SECURITY_POLICY,
    STYLE,
    PrintedMessage,
    printable,
    printed,
    render,
)
from services.conversations.domain.replies import reply_recipients, reply_threading
from services.conversations.domain.thread import RETRY_DELAYS, next_retry
from tests.unit.test_mail_sanitize import XSS, assert_harmless


def test_an_answer_joins_the_thread_of_its_nearest_known_parent() -> None:
    known = {"a@x": 1, "c@x": 3}
    assert routing.thread_for_ids(["a@x", "b@x", "c@x"], known) == 3
    assert routing.thread_for_ids(["a@x", "b@x"], known) == 1
    assert routing.thread_for_ids(["z@x"], known) is None


def test_the_subject_reference_needs_a_participant_of_the_ticket_on_any_channel() -> None:
    candidates = [
        routing.Candidate(1, "email", frozenset({"ana@example.com"})),
        routing.Candidate(2, "chat", frozenset({"ana@example.com", "chat@example.com"})),
        routing.Candidate(3, "email", frozenset({"ana@example.com", "boss@example.com"})),
        routing.Candidate(4, "form", frozenset({"fay@example.com"})),
    ]
    assert routing.join_by_subject("ana@example.com", candidates) == routing.Joining(3)
    assert routing.join_by_subject("Boss@Example.com", candidates) == routing.Joining(3)
    assert routing.join_by_subject("fay@example.com", candidates) == routing.Joining(4)
    assert routing.join_by_subject("chat@example.com", candidates) == routing.Joining(None)
    assert routing.join_by_subject("mallory@example.com", candidates) is None
    assert routing.join_by_subject("", candidates) is None


@pytest.mark.parametrize(
    ("address", "verdict"),
    [
        ("bot@spam.example", "deny"),
        ("friend@spam.example", "allow"),
        ("x@mail.spam.example", "deny"),
        ("ok@example.com", None),
        ("CEO@Partner.example", "allow"),
    ],
)
def test_sender_rules_nearest_first(address: str, verdict: str | None) -> None:
    rules = {"spam.example": "deny", "friend@spam.example": "allow", "partner.example": "allow"}
    assert routing.sender_verdict(address, rules) == verdict


@pytest.mark.parametrize("pattern", ["example", "@", "a@", "a b@example.com", "<x@example.com>", ""])
def test_a_rule_is_an_address_or_a_domain(pattern: str) -> None:
    assert routing.pattern_problem(pattern) is not None
    assert (
        routing.pattern_problem("@Example.COM") is None
        and routing.normalise_pattern("@Example.COM") == "example.com"
    )


def test_a_reply_goes_to_the_customer_and_the_last_cc_without_us_or_twice() -> None:
    found = reply_recipients(
        customer="Ana@Example.com",
        last_cc=["boss@example.com", "support@desk.test", "ana@example.com", "BOSS@example.com"],
        own_address="support@desk.test",
    )
    assert found.to == ["ana@example.com"] and found.cc == ["boss@example.com"]
    chosen = reply_recipients(
        customer="ana@example.com", last_cc=["boss@example.com"], own_address="s@d", cc=[]
    )
    assert chosen.cc == []


def test_a_reply_threads_to_its_parent() -> None:
    threading = reply_threading("Printer", "p@x", ["root@x"])
    assert threading.subject == "Re: Printer" and threading.in_reply_to == "p@x"
    assert threading.references == ["root@x", "p@x"]
    assert reply_threading("Chat", None, []).subject == "Chat"
    assert mail_domain("support@desk.test") == "desk.test" and mail_domain("nobody") == "localhost"


def test_the_ticket_of_a_thread_is_named_after_its_subject_or_first_words() -> None:
    assert ticket_fields("email", "Help", "text")["name"] == "Help"
    assert ticket_fields("chat", "", "  Hello\nthere  ")["name"] == "Hello there"
    assert ticket_fields("form", "", "")["name"] == "(no subject)"
    assert ticket_fields("email", "\u202eTwo\x85 lines\u2069 ", "")["name"] == "Two lines"
    assert ticket_fields("email", "\u202e\x00 ", "First words")["name"] == "First words"
    assert ticket_fields("email", "x" * 600, "")["name"] == "x" * 500


def test_a_bounce_is_threaded_by_the_message_it_reports() -> None:
    bounce = Incoming(
        channel="email",
        sender_email="mailer-daemon@x",
        sender_name="",
        subject="",
        text="",
        bounce_of="ours@x",
    )
    assert bounce.referenced_ids == ["ours@x"]


def test_retries_back_off_then_give_up() -> None:
    assert next_retry(1) == RETRY_DELAYS[0] and next_retry(len(RETRY_DELAYS) + 1) is None


AT = dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)


def _message(**fields: object) -> PrintedMessage:
    values: dict[str, object] = {
        "kind": "customer",
        "sender": "Ana <ana@example.com>",
        "to": ["support@desk.test"],
        "cc": [],
        "at": AT,
        "subject": "Printer",
        "text": "text",
        "html": None,
        "images": {},
    }
    values.update(fields)
    return PrintedMessage(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("vector", XSS)
def test_print_leaves_no_way_to_run_script_for_any_vector(vector: str) -> None:
    page = render(
        7, "Printer <b>", "Subject <script>", [_message(html=vector), _message(text=vector, html=None)]
    )
    assert page.count("<style>") == 1 and f"<style>{STYLE}</style>" in page  # only ours
    messages = page.split("</header>", 1)[1].rsplit("</body>", 1)[0]
    assert_harmless(messages)


def test_print_shows_customer_and_agent_messages_but_not_notes_or_automatic_mail() -> None:
    assert printable({"kind": "customer", "auto": None}) and printable({"kind": "reply", "auto": None})
    assert not printable({"kind": "note", "auto": None}) and not printable(
        {"kind": "customer", "auto": "bounce"}
    )
    assert "script-src" not in CONTENT_SECURITY_POLICY and "default-src 'none'" in CONTENT_SECURITY_POLICY


def _stored(**fields: object) -> dict[str, object]:
    """A message as the store hands it to the printer."""
    return {
        "kind": "reply",
        "author_id": 2,
        "author_name": "Agnes Agent",
        "sender": None,
        "to": [],
        "cc": [],
        "email_message_id": None,
        "created_at": "2026-12-01T10:00:00+00:00",
        "subject": "Printer",
        "text": "Unplug it.",
        "quoted_text": "",
        "html": None,
        **fields,
    }


def test_print_names_the_agent_and_the_customer_of_a_reply_that_was_not_mailed() -> None:
    customer = {"email": "vi@example.com", "name": "Vi"}
    chat = printed(_stored(), customer)
    assert chat.sender == "Agnes Agent" and list(chat.to) == ["Vi <vi@example.com>"]
    assert printed(_stored(author_name=""), customer).sender == "Agent 2"
    mailed = _stored(
        sender={"email": "support@example.com", "name": "Agnes Agent"},
        to=[{"email": "vi@example.com", "name": ""}],
        email_message_id="r1@example.com",
    )
    assert printed(mailed, customer).to == ["vi@example.com"]
    unsent = _stored(sender={"email": "support@example.com", "name": ""}, email_message_id="r2@example.com")
    assert printed(unsent, customer).to == []  # a mailed reply shows whom it went to: nobody
