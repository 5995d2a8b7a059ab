"""Email end to end, as a customer and an agent live it: a real SMTP client writes to the suite's
SMTP port, the ticket appears through the gateway, the agent's reply reaches a real SMTP relay
(a sink) with the headers that thread it, and the customer's answer lands on the same thread and
makes the ticket unread again. The same Message-ID delivered twice is stored once. A form
customer whose mail client drops the threading headers lands on their ticket by its ``[#id]``;
a stranger using the same subject does not."""

from __future__ import annotations

import email
import shutil
import smtplib
import tempfile
import uuid
from collections.abc import Callable, Iterator
from email import policy
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Suite, wait_for
from tests.mail_fixtures import SmtpSink

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.db]

SUPPORT = "support@e2e.test"


@pytest.fixture
def suite(make_vhost: Callable[[], str], smtp_sink: SmtpSink) -> Iterator[Suite]:
    folder = tempfile.mkdtemp(prefix="hd-mail-")
    env = {"HELPDESK_SMTP_RELAY": f"127.0.0.1:{smtp_sink.port}", "HELPDESK_MAIL_FROM": SUPPORT}
    running = Suite(Path(folder), make_vhost(), env=env)
    try:
        running.start()
        yield running
        running.stop()
    finally:
        if running.proc is not None and running.proc.poll() is None:
            running.proc.kill()
        shutil.rmtree(folder, ignore_errors=True)


def send(
    suite: Suite,
    *,
    subject: str,
    body: str,
    message_id: str,
    in_reply_to: str | None = None,
    sender: str = "Zofia Klientka <zofia@example.com>",
) -> None:
    message = email.message.EmailMessage()
    message["From"] = sender
    message["To"] = SUPPORT
    message["Cc"] = "szef@example.com"
    message["Subject"] = subject
    message["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        message["In-Reply-To"] = f"<{in_reply_to}>"
        message["References"] = f"<{in_reply_to}>"
    message.set_content(body)
    with smtplib.SMTP("127.0.0.1", suite.smtp_port, timeout=30) as client:
        client.send_message(message)


def tickets_about(suite: Suite, word: str) -> list[dict[str, Any]]:
    response = suite.request("GET", "/api/v1/tickets", params={"q": word, "limit": 100})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_a_mail_becomes_a_ticket_the_reply_threads_back_and_the_answer_makes_it_unread(
    suite: Suite, smtp_sink: SmtpSink
) -> None:
    word = f"drukarka{uuid.uuid4().hex[:8]}"
    model = f"zx{uuid.uuid4().hex[:6]}"
    first_id = f"{uuid.uuid4().hex}@example.com"
    body = f"Dzień dobry, drukarka nie działa. Model {model}ka."
    send(suite, subject=f"Zepsuta {word}", body=body, message_id=first_id)
    assert wait_for(lambda: bool(tickets_about(suite, word)), 15), "no ticket for the mail"
    [ticket] = tickets_about(suite, word)
    assert ticket["source"] == "email" and ticket["unread"] is True
    # q also finds it by its message (inflected) and its sender, through the conversations service
    assert wait_for(lambda: [t["id"] for t in tickets_about(suite, f"{model}ki")] == [ticket["id"]], 15)
    assert ticket["id"] in {t["id"] for t in tickets_about(suite, "Zofia@Example.com")}

    threads = suite.request("GET", f"/api/v1/tickets/{ticket['id']}/threads").json()["items"]
    [thread] = threads
    assert (
        thread["messages"][0]["text"].startswith("Dzień dobry")
        and thread["customer"]["email"] == "zofia@example.com"
    )

    reply = suite.request(
        "POST",
        f"/api/v1/threads/{thread['id']}/messages",
        json={"kind": "reply", "body": "Proszę ją wyłączyć."},
    )
    assert reply.status_code == 201, reply.text
    [raw] = smtp_sink.wait_for(1, timeout=15)
    sent = email.message_from_bytes(raw, policy=policy.default)
    assert sent["In-Reply-To"] == f"<{first_id}>" and f"<{first_id}>" in sent["References"]
    assert f"[#{ticket['id']}]" in sent["Subject"] and sent["To"] == "zofia@example.com"
    assert sent["Cc"] == "szef@example.com"
    assert smtp_sink.envelopes()[0]["rcpt_tos"] == ["zofia@example.com", "szef@example.com"]
    assert wait_for(
        lambda: (
            suite.request("GET", f"/api/v1/threads/{thread['id']}/messages").json()["items"][-1]["delivery"][
                "state"
            ]
            == "sent"
        ),
        10,
    )
    replied = suite.request("GET", f"/api/v1/tickets/{ticket['id']}").json()
    assert replied["unread"] is False  # opened just now
    assert wait_for(
        lambda: suite.request("GET", f"/api/v1/tickets/{ticket['id']}").json()["owner_id"] is not None, 10
    )

    answer_id = f"{uuid.uuid4().hex}@example.com"
    reply_id = sent["Message-ID"].strip("<>")
    send(
        suite, subject=f"Re: {sent['Subject']}", body="Dziękuję!", message_id=answer_id, in_reply_to=reply_id
    )
    send(
        suite, subject=f"Re: {sent['Subject']}", body="Dziękuję!", message_id=answer_id, in_reply_to=reply_id
    )

    def unread_again() -> bool:
        listed = suite.request("GET", "/api/v1/tickets", params={"view": "unread", "limit": 100}).json()
        return ticket["id"] in [t["id"] for t in listed["items"]]

    assert wait_for(unread_again, 15), "the customer's answer did not make the ticket unread"
    messages = suite.request("GET", f"/api/v1/threads/{thread['id']}/messages").json()["items"]
    assert [m["kind"] for m in messages] == ["customer", "reply", "customer"]
    assert len(tickets_about(suite, word)) == 1


def test_a_form_customer_answering_by_mail_with_only_the_ticket_reference_lands_on_the_ticket(
    suite: Suite, smtp_sink: SmtpSink
) -> None:
    word = f"formularz{uuid.uuid4().hex[:8]}"
    form = {
        "channel": "form",
        "from": {"email": "fay@example.com"},
        "subject": f"Pomoc {word}",
        "body": "Hej",
    }
    started = suite.request("POST", "/api/v1/intake/messages", json=form)
    assert started.status_code == 201, started.text
    thread_id = started.json()["thread_id"]
    assert wait_for(lambda: suite.request("GET", f"/api/v1/threads/{thread_id}").json()["ticket_id"], 15)
    ticket_id = suite.request("GET", f"/api/v1/threads/{thread_id}").json()["ticket_id"]
    reply = suite.request(
        "POST", f"/api/v1/threads/{thread_id}/messages", json={"kind": "reply", "body": "Co dokładnie?"}
    )
    assert reply.status_code == 201, reply.text
    [raw] = smtp_sink.wait_for(1, timeout=15)
    subject = email.message_from_bytes(raw, policy=policy.default)["Subject"]
    assert f"[#{ticket_id}]" in subject
    answer = {"subject": f"Re: {subject}", "body": "Drukarka."}
    send(suite, **answer, message_id=f"{uuid.uuid4().hex}@example.com", sender="fay@example.com")

    def answered() -> bool:
        messages = suite.request("GET", f"/api/v1/threads/{thread_id}/messages").json()["items"]
        return [m["kind"] for m in messages] == ["customer", "reply", "customer"]

    assert wait_for(answered, 15), "the customer's answer did not land on the form thread"
    send(suite, **answer, message_id=f"{uuid.uuid4().hex}@example.com", sender="mallory@evil.example")
    assert wait_for(lambda: len(tickets_about(suite, word)) == 2, 15), (
        "the stranger got no ticket of their own"
    )
    assert suite.request("GET", f"/api/v1/threads/{thread_id}").json()["message_count"] == 3
