"""Notifications end to end: the whole suite (real RabbitMQ, databases, an SMTP relay that keeps what
it gets), driven over HTTP as people and integrations use it. One suite for the module, with a daily
cap of 3 emails per type and person so the cap can be seen.

Proves that

* a follower gets a customer's message in the app and by email (a real SMTP relay), with a link
  to the ticket; the person who made a change gets nothing; a follower who lost access gets
  nothing; turning a type off stops it;
* a bulk reassignment of 50 tickets is one notification (and one mail) for the new owner;
* the cap holds: the fourth email of a type on one day is dropped and counted for admins;
* an SSE client sees a change to a ticket it may see and never one to a ticket it may not;
  one whose ticket is reassigned away is told ``ticket_hidden`` and nothing more of it, while
  one that never could see the ticket hears nothing;
* notifications about a ticket its reader can no longer open (reassigned away from an owned-only
  agent, in the recycle bin, seen by a super admin since demoted) are gone from the feed, the
  counts (the unread count, the stream's hello) and answer 404 when marked read; they come back
  with the ticket;
* notifications SIGKILLed while 60 assignments arrive: each is one notification, none lost.

The figures are printed (``pytest -s``).
"""

from __future__ import annotations

import email
import os
import shutil
import signal
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import eventlet
import pytest

from tests.e2e.conftest import Suite, wait_for
from tests.mail_fixtures import SmtpSink
from tests.sse import SseClient

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.db]

CAP = 3
SUPPORT = "support@notify.test"


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    folder = Path(tempfile.mkdtemp(prefix="hd-notify-sink-"))
    running = SmtpSink(folder)
    yield running
    running.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def suite(make_vhost: Callable[[], str], sink: SmtpSink) -> Iterator[Suite]:
    folder = tempfile.mkdtemp(prefix="hd-notify-")
    env = {
        "HELPDESK_SMTP_RELAY": f"127.0.0.1:{sink.port}",
        "HELPDESK_MAIL_FROM": SUPPORT,
        "HELPDESK_EMAIL_DAILY_CAP": str(CAP),
        "HELPDESK_PUBLIC_URL": "https://desk.example.com",
    }
    running = Suite(Path(folder), make_vhost(), env=env)
    try:
        running.start()
        yield running
        running.stop()
    finally:
        if running.proc is not None and running.proc.poll() is None:
            running.proc.kill()
        shutil.rmtree(folder, ignore_errors=True)


class Person:
    def __init__(self, suite: Suite, name: str, **fields: Any) -> None:
        body = {
            "name": name,
            "email": f"{name.lower()}-{uuid.uuid4().hex[:6]}@people.test",
            "permissions": ["service_access"],
            "access_level": "everything",
            **fields,
        }
        created = suite.request("POST", "/api/v1/users", json=body)
        assert created.status_code == 201, created.text
        self.suite = suite
        self.id: int = created.json()["id"]
        self.email: str = body["email"]
        issued = suite.request("POST", f"/api/v1/users/{self.id}/tokens", json={})
        assert issued.status_code == 201, issued.text
        self.token: str = issued.json()["token"]

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.suite.request(method, path, token=self.token, **kwargs)

    def feed(self) -> list[dict[str, Any]]:
        answer = self.call("GET", "/api/v1/notifications", params={"limit": 100})
        assert answer.status_code == 200, answer.text
        return list(answer.json()["items"])


def mails_to(sink: SmtpSink, address: str) -> list[EmailMessage]:
    found = []
    for raw, envelope in sink.received():
        if address in envelope["rcpt_tos"]:
            message = email.message_from_bytes(raw, policy=policy.default)
            assert isinstance(message, EmailMessage)
            found.append(message)
    return found


def intake(suite: Suite, body: str, thread_id: int | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {
        "channel": "chat",
        "from": {"email": "klient@example.com", "name": "Klient"},
        "body": body,
    }
    if thread_id is None:
        message["subject"] = "Drukarka"
    else:
        message["thread_id"] = thread_id
    answer = suite.request("POST", "/api/v1/intake/messages", json=message)
    assert answer.status_code in (200, 201), answer.text
    return dict(answer.json())


def test_followers_hear_of_a_customer_message_in_the_app_and_by_email_under_the_rules(
    suite: Suite, sink: SmtpSink
) -> None:
    fiona, otto, ola = Person(suite, "Fiona"), Person(suite, "Otto"), Person(suite, "Ola")
    first = intake(suite, "Drukarka nie działa")
    ticket_id, thread_id = first["ticket_id"], first["thread_id"]
    assert (
        suite.request("PATCH", f"/api/v1/tickets/{ticket_id}", json={"owner_id": ola.id}).status_code == 200
    )
    for person in (fiona, otto):
        assert person.call("PUT", f"/api/v1/tickets/{ticket_id}/follow").status_code == 200
    # Otto loses access: owned-only, and the ticket is Ola's
    changed = suite.request("PATCH", f"/api/v1/users/{otto.id}", json={"access_level": "owned"})
    assert changed.status_code == 200, changed.text
    eventlet.sleep(0.5)  # the permissions event reaches the tickets service's directory

    began = time.monotonic()
    intake(suite, "Nadal nie działa!", thread_id)
    assert wait_for(lambda: any(i["type"] == "new_message" for i in fiona.feed()), 15)
    in_app = time.monotonic() - began
    [item] = [i for i in fiona.feed() if i["type"] == "new_message"]
    assert item["ticket_id"] == ticket_id and item["read"] is False
    assert wait_for(lambda: bool(mails_to(sink, fiona.email)), 15), "no email for the follower"
    [mail] = mails_to(sink, fiona.email)
    assert mail["Auto-Submitted"] == "auto-generated" and mail["From"].addresses[0].addr_spec == SUPPORT
    assert f"https://desk.example.com/split/{ticket_id}" in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert wait_for(lambda: any(i["type"] == "new_message" for i in ola.feed()), 10), "the owner hears too"
    assert otto.feed() == [], "a follower who lost access hears nothing"
    assert mails_to(sink, otto.email) == []

    # the actor: Fiona replies; Ola hears nothing (a reply is for followers), Fiona nothing of her own
    reply = fiona.call(
        "POST", f"/api/v1/threads/{thread_id}/messages", json={"kind": "note", "body": "Sprawdzam"}
    )
    assert reply.status_code == 201, reply.text
    fiona.call("PATCH", f"/api/v1/tickets/{ticket_id}", json={"priority": "urgent"})
    eventlet.sleep(2.0)
    assert [i["type"] for i in fiona.feed()] == ["new_message"], (
        "the actor is never told",
        fiona.id,
        fiona.feed(),
    )

    # Fiona turns customer messages off in the app and by email
    off = fiona.call(
        "PUT",
        "/api/v1/me/notification-preferences",
        json={"types": {"new_message": {"in_app": False, "email": False}}},
    )
    assert off.status_code == 200 and off.json()["types"]["new_message"] == {"in_app": False, "email": False}
    intake(suite, "Halo?", thread_id)
    assert wait_for(lambda: len([i for i in ola.feed() if i["type"] == "new_message"]) == 2, 15)
    eventlet.sleep(1.0)
    assert len([i for i in fiona.feed() if i["type"] == "new_message"]) == 1
    assert len(mails_to(sink, fiona.email)) == 1
    print(f"\nnotifications e2e: customer message -> follower's feed {in_app * 1000:.0f} ms")


def test_a_bulk_reassignment_of_fifty_tickets_is_one_notification(suite: Suite, sink: SmtpSink) -> None:
    bea = Person(suite, "Bea")
    ids = []
    for n in range(50):
        created = suite.request("POST", "/api/v1/tickets", json={"name": f"bulk {n}"})
        assert created.status_code == 201
        ids.append(created.json()["id"])
    done = suite.request(
        "POST", "/api/v1/tickets/bulk-update", json={"ids": ids, "changes": {"owner_id": bea.id}}
    )
    assert done.status_code == 200 and all(r["status"] == 200 for r in done.json()["results"])
    assert wait_for(lambda: bool(bea.feed()) and bea.feed()[0]["count"] == 50, 20), bea.feed()
    [item] = bea.feed()
    assert item["type"] == "assigned_to_you" and item["title"] == "50 tickets were reassigned to you"
    assert sorted(item["ticket_ids"]) == sorted(ids)
    assert wait_for(lambda: bool(mails_to(sink, bea.email)), 20)
    eventlet.sleep(1.0)
    [mail] = mails_to(sink, bea.email)
    assert mail["Subject"] == "50 tickets were reassigned to you"


def test_the_daily_cap_drops_and_counts_the_rest(suite: Suite, sink: SmtpSink) -> None:
    cleo = Person(suite, "Cleo")
    first = intake(suite, "Pierwsza")
    suite.request("PATCH", f"/api/v1/tickets/{first['ticket_id']}", json={"owner_id": cleo.id})
    for n in range(CAP + 2):
        intake(suite, f"Wiadomość {n}", first["thread_id"])
    assert wait_for(lambda: len([i for i in cleo.feed() if i["type"] == "new_message"]) == CAP + 2, 20)
    eventlet.sleep(2.0)
    by_type = Counter(m["Subject"].split(" ")[0] for m in mails_to(sink, cleo.email))
    assert len([m for m in mails_to(sink, cleo.email) if "customer message" in m["Subject"]]) == CAP, by_type
    drops = suite.request("GET", "/api/v1/notifications/email-drops", params={"user_id": cleo.id}).json()
    assert [(d["type"], d["emails"], d["dropped"]) for d in drops["items"]] == [("new_message", CAP, 2)]
    assert cleo.call("GET", "/api/v1/notifications/email-drops").status_code == 403


def test_a_live_client_sees_the_changes_it_may_see_and_never_others(suite: Suite) -> None:
    olek = Person(suite, "Olek", access_level="owned")
    stream = SseClient("127.0.0.1", suite.http_port, olek.token)
    assert stream.status == 200 and stream.next_event()["event"] == "hello"  # type: ignore[index]
    mine = suite.request("POST", "/api/v1/tickets", json={"name": "his", "owner_id": olek.id}).json()
    other = suite.request("POST", "/api/v1/tickets", json={"name": "not his"}).json()
    began = time.monotonic()
    suite.request("PATCH", f"/api/v1/tickets/{mine['id']}", json={"priority": "high"})
    suite.request("PATCH", f"/api/v1/tickets/{other['id']}", json={"priority": "high"})
    seen = stream.events_until(lambda found: any(e["event"] == "ticket_updated" for e in found), 10)
    latency = time.monotonic() - began
    seen += stream.quiet(2.0)
    tickets_seen = {e["data"]["ticket_id"] for e in seen if e["event"].startswith("ticket_")}
    assert mine["id"] in tickets_seen and other["id"] not in tickets_seen, seen
    assert any(e["event"] == "notification" for e in seen), "his assignment reaches him live"
    stream.close()
    print(f"\nnotifications e2e: change -> SSE message {latency * 1000:.0f} ms")


def test_a_live_client_is_told_when_its_ticket_is_reassigned_away_and_others_nothing(suite: Suite) -> None:
    olek = Person(suite, "Olek", access_level="owned")
    pia = Person(suite, "Pia", access_level="owned")
    adam = Person(suite, "Adam")
    streams = {}
    for person in (olek, pia):
        streams[person.id] = SseClient("127.0.0.1", suite.http_port, person.token)
        assert streams[person.id].next_event()["event"] == "hello"  # type: ignore[index]
    his = suite.request("POST", "/api/v1/tickets", json={"name": "his", "owner_id": olek.id}).json()
    assert any(  # his workspace shows it
        e["event"] == "ticket_created" and e["data"]["ticket_id"] == his["id"]
        for e in streams[olek.id].events_until(
            lambda found: any(e["event"] == "ticket_created" for e in found), 10
        )
    )
    moved = suite.request("PATCH", f"/api/v1/tickets/{his['id']}", json={"owner_id": adam.id})
    assert moved.status_code == 200, moved.text
    later = suite.request("PATCH", f"/api/v1/tickets/{his['id']}", json={"priority": "urgent"})
    assert later.status_code == 200, later.text

    seen = streams[olek.id].events_until(lambda found: any(e["event"] == "ticket_hidden" for e in found), 10)
    seen += streams[olek.id].quiet(2.0)
    about = [e for e in seen if e["event"].startswith("ticket")]
    assert [(e["event"], e["data"]) for e in about] == [
        ("ticket_hidden", {"type": "ticket_hidden", "ticket_id": his["id"]})
    ], seen
    assert olek.call("GET", f"/api/v1/tickets/{his['id']}").status_code == 404
    told_pia = [e for e in streams[pia.id].quiet(1.0) if e["event"].startswith("ticket")]
    assert told_pia == [], "a client that never could see the ticket hears nothing of it"
    for stream in streams.values():
        stream.close()


def test_notifications_of_tickets_the_reader_can_no_longer_open_are_not_shown_counted_or_found(
    suite: Suite,
) -> None:
    olga = Person(suite, "Olga", access_level="owned")
    sam = Person(suite, "Sam", permissions=["super_admin"])
    secret = suite.request("POST", "/api/v1/tickets", json={"name": "Sekret 23", "owner_id": olga.id}).json()
    plain = suite.request("POST", "/api/v1/tickets", json={"name": "Jawne 24", "owner_id": olga.id}).json()
    assert olga.call("PUT", f"/api/v1/tickets/{secret['id']}/follow").status_code == 200
    assert (
        suite.request("PATCH", f"/api/v1/tickets/{secret['id']}", json={"priority": "high"}).status_code
        == 200
    )

    def told(person: Person) -> list[tuple[str, int]]:
        return sorted((i["type"], i["ticket_id"]) for i in person.feed())

    everything = [("assigned_to_you", plain["id"]), ("assigned_to_you", secret["id"])]
    everything += [("record_updated", secret["id"])]
    assert wait_for(lambda: told(olga) == sorted(everything), 15), told(olga)
    assert wait_for(lambda: len(sam.feed()) == 2, 15), sam.feed()
    hidden = [i["id"] for i in olga.feed() if i["ticket_id"] == secret["id"]]

    def unread(person: Person) -> int:
        answer = person.call("GET", "/api/v1/notifications/unread-count")
        assert answer.status_code == 200, answer.text
        return int(answer.json()["unread"])

    def hello(person: Person) -> int | None:
        stream = SseClient("127.0.0.1", suite.http_port, person.token)
        try:
            event = stream.next_event()
            assert event is not None and event["event"] == "hello", event
            return event["data"]["unread"]
        finally:
            stream.close()

    assert (unread(olga), hello(olga)) == (3, 3)
    other = Person(suite, "Adam")
    moved = suite.request("PATCH", f"/api/v1/tickets/{secret['id']}", json={"owner_id": other.id})
    assert moved.status_code == 200, moved.text
    assert olga.call("GET", f"/api/v1/tickets/{secret['id']}").status_code == 404
    page = olga.call("GET", "/api/v1/notifications", params={"limit": 100}).json()
    assert [(i["type"], i["ticket_id"]) for i in page["items"]] == [("assigned_to_you", plain["id"])]
    assert not any("Sekret" in i["title"] for i in page["items"])
    assert (page["total"], page["unread"], unread(olga), hello(olga)) == (1, 1, 1, 1)
    for item_id in hidden:
        assert olga.call("POST", f"/api/v1/notifications/{item_id}/read").status_code == 404

    assert suite.request("DELETE", f"/api/v1/tickets/{plain['id']}").status_code in (200, 204)
    assert olga.feed() == [] and unread(olga) == 0, "a ticket in the recycle bin is not shown either"
    assert suite.request("POST", f"/api/v1/tickets/{plain['id']}/restore").status_code == 200
    assert [i["ticket_id"] for i in olga.feed()] == [plain["id"]], "restored, it is there again"

    demoted = suite.request(
        "PATCH", f"/api/v1/users/{sam.id}", json={"permissions": ["service_access"], "access_level": "owned"}
    )
    assert demoted.status_code == 200, demoted.text
    assert wait_for(lambda: sam.feed() == [] and unread(sam) == 0, 10), sam.feed()
    assert hello(sam) == 0


def test_sigkill_of_notifications_mid_load_neither_loses_nor_doubles(suite: Suite) -> None:
    kasia = Person(suite, "Kasia")
    created: list[int] = []

    def create(n: int) -> None:
        answer = suite.request(
            "POST",
            "/api/v1/tickets",
            json={"name": f"kill {n}", "owner_id": kasia.id},
            headers={"Idempotency-Key": f"kill-{kasia.id}-{n}"},
        )
        assert answer.status_code == 201, answer.text
        created.append(answer.json()["id"])

    def assigned() -> Counter[int]:
        return Counter(i["ticket_id"] for i in kasia.feed() if i["type"] == "assigned_to_you")

    killed: dict[str, int] = {}

    def killer() -> None:  # once notifications is busy with this load, kill it mid-handling
        if wait_for(lambda: len(assigned()) >= 10, 30, interval=0.05):
            killed["pid"] = suite.pid("notifications")
            killed["notified"] = len(assigned())
            os.kill(killed["pid"], signal.SIGKILL)

    pool = eventlet.GreenPool(5)
    pool.spawn(killer)
    for n in range(60):
        pool.spawn(create, n)
    pool.waitall()
    assert killed, "the kill never happened"
    assert wait_for(lambda: suite.child_pids().get("notifications") not in (None, killed["pid"]), 30)
    began = time.monotonic()

    wait_for(lambda: set(assigned()) >= set(created), 60, interval=1.0)
    caught_up = time.monotonic() - began
    eventlet.sleep(2.0)
    counts = assigned()
    print(
        f"\nnotifications e2e: SIGKILL after {killed['notified']} of {len(created)} assignments were"
        f" notified; {len(counts)} notified in the end,"
        f" doubled {sum(1 for n in counts.values() if n > 1)}, caught up {caught_up:.1f}s after the restart"
    )
    assert set(counts) == set(created), f"missing {sorted(set(created) - set(counts))}"
    assert all(n == 1 for n in counts.values()), {t: n for t, n in counts.items() if n > 1}
