"""Fault: each participant of the lifecycle sagas is SIGKILLed once while they run, over real
RabbitMQ, with the whole suite under its supervisor (which restarts what dies).

1. Merges and splits run while **tickets** is killed; deletes and spam marks while
   **conversations** is killed; more merges while **notifications** is killed. Clients retry
   with their Idempotency-Key (a delete without one: a 404 after a lost answer counts as
   done). Once every job has finished, the databases must agree: no conversation points at a
   missing or absorbed ticket, threads of binned tickets are deleted, every merge and split
   is whole, no ticket is left in progress, no feed item names an absorbed ticket, and the
   gateway never answered 500.
2. A purge of expired recycle-bin tickets and spam threads runs while **retention** is
   killed: the next run (the schedule takes the stale run over) finishes it; every item is
   purged exactly once, none before its period passed, no intent is left behind.

Figures are printed (``pytest -s``).
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import signal
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import eventlet
import pytest
import requests
from kombu import Connection, Exchange

from services.chassis.wire import EVENT_ID_HEADER, PRODUCER_HEADER
from services.conversations import contract as conversations_contract
from tests.e2e.conftest import Suite, wait_for

pytestmark = pytest.mark.e2e

BUDGET = 60.0


@dataclass
class Client:
    """Requests that retry a 5xx or a broken connection (same Idempotency-Key) until an answer."""

    suite: Suite
    statuses: Counter[int | str] = field(default_factory=Counter)
    acked: int = 0

    def call(self, method: str, path: str, body: Any = None, *, key: str | None = None) -> requests.Response:
        headers = {"Idempotency-Key": key} if key else {}
        deadline = time.monotonic() + BUDGET
        delay, retried = 0.1, False
        with closing(requests.Session()) as session:
            while True:
                try:
                    response = self.suite.request(
                        method, path, json=body, headers=headers, session=session, timeout=20
                    )
                except requests.RequestException as exc:
                    self.statuses[type(exc).__name__] += 1
                else:
                    self.statuses[response.status_code] += 1
                    if response.status_code < 500:
                        if retried and method == "DELETE" and response.status_code == 404:
                            response.status_code = 200  # the first try went through; its answer was lost
                        self.acked += 1
                        return response
                assert time.monotonic() < deadline, f"{method} {path} never answered: {self.statuses}"
                retried = True
                eventlet.sleep(delay)
                delay = min(delay * 2, 2.0)


def send_mail(
    suite: Suite, subject: str, message_id: str, sender: str, in_reply_to: str | None = None
) -> None:
    """A customer's mail as an SMTP edge hands it to the conversations service: a ``mail_received``
    event with the envelope and the bytes (what the service consumes), with the edge's headers."""
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, "support@localhost", subject
    mail["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        mail["In-Reply-To"] = mail["References"] = f"<{in_reply_to}>"
    mail.set_content(f"{subject}: the printer is on fire.\n")
    now = dt.datetime.now(dt.UTC).isoformat()
    body = {
        "event_id": str(uuid.uuid4()),
        "occurred_at": now,
        "edge_id": str(uuid.uuid4()),
        "received_at": now,
        "mail_from": sender,
        "rcpt_tos": ["support@localhost"],
        "peer": "127.0.0.1:2525",
        "raw_b64": base64.b64encode(mail.as_bytes()).decode("ascii"),
    }
    exchange = Exchange(f"{conversations_contract.SERVICE_NAME}.events", type="topic", durable=True)
    with Connection(suite.amqp_uri) as conn:
        conn.Producer().publish(
            body,
            exchange=exchange,
            routing_key=conversations_contract.MAIL_RECEIVED,
            serializer="json",
            delivery_mode=2,
            declare=[exchange],
            headers={EVENT_ID_HEADER: body["event_id"], PRODUCER_HEADER: conversations_contract.SERVICE_NAME},
        )


@contextmanager
def database(suite: Suite, service: str) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"file:{suite.data_dir / service}.db?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        yield conn
    finally:
        conn.close()


def rows(suite: Suite, service: str, query: str) -> list[sqlite3.Row]:
    with database(suite, service) as conn:
        return list(conn.execute(query))


def kill(suite: Suite, name: str) -> int:
    pid = suite.pid(name)
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: suite.child_pids().get(name) not in (None, pid), 30.0), f"{name} not restarted"
    return pid


def killer(suite: Suite, name: str, client: Client, after: int, killed: dict[str, int]) -> Callable[[], None]:
    """Kill ``name`` once ``after`` actions were acknowledged; note how many jobs were running then."""

    def run() -> None:
        assert wait_for(lambda: client.acked >= after, BUDGET, interval=0.02), (
            f"{name}: no progress to kill into"
        )
        killed[name] = running_jobs(suite)
        kill(suite, name)

    return run


def running_jobs(suite: Suite) -> int:
    return int(rows(suite, "tickets", "SELECT count(*) AS n FROM jobs WHERE state = 'running'")[0]["n"])


def email_cases(suite: Suite, count: int, replies: int) -> dict[str, dict[str, Any]]:
    """``count`` customers write (the first ``replies`` twice on the same thread); returns subject ->
    {"ticket_id", "message_ids"} once every ticket exists."""
    sent: dict[str, list[str]] = {}
    for n in range(count):
        subject, first = f"case-{n}-{uuid.uuid4().hex[:6]}", f"{uuid.uuid4().hex}@example.com"
        sender = f"cust{n}@example.com"
        send_mail(suite, subject, first, sender)
        sent[subject] = [first]
        if n < replies:
            again = f"{uuid.uuid4().hex}@example.com"
            send_mail(suite, f"Re: {subject}", again, sender, in_reply_to=first)
            sent[subject].append(again)

    def arrived() -> bool:
        found = rows(suite, "conversations", "SELECT count(*) AS n FROM messages WHERE kind = 'customer'")
        tickets = rows(
            suite, "conversations", "SELECT count(*) AS n FROM threads WHERE ticket_id IS NOT NULL"
        )
        return found[0]["n"] == count + replies and tickets[0]["n"] == count

    assert wait_for(arrived, 40.0, interval=0.3), "the mail did not all become tickets"
    cases = {}
    for subject, ids in sent.items():
        [row] = rows(
            suite,
            "conversations",
            "SELECT t.ticket_id, t.id AS thread_id FROM messages m JOIN threads t ON t.id = m.thread_id"
            f" WHERE m.email_message_id = '{ids[0]}'",
        )
        message_ids = [
            r["id"]
            for r in rows(
                suite,
                "conversations",
                f"SELECT id FROM messages WHERE thread_id = {row['thread_id']} ORDER BY id",
            )
        ]
        cases[subject] = {
            "ticket_id": row["ticket_id"],
            "thread_id": row["thread_id"],
            "message_ids": message_ids,
        }
    return cases


def jobs_settled(suite: Suite) -> bool:
    running = rows(suite, "tickets", "SELECT count(*) AS n FROM jobs WHERE state = 'running'")[0]["n"]
    busy = rows(suite, "tickets", "SELECT count(*) AS n FROM tickets WHERE in_progress IS NOT NULL")[0]["n"]
    return running == 0 and busy == 0


def test_sigkill_of_each_service_mid_lifecycle_converges(
    suite_factory: Callable[..., Suite], make_vhost: Callable[[], str]
) -> None:
    suite = suite_factory(make_vhost())
    cases = list(email_cases(suite, 24, replies=6).values())
    splits, merges, deletes, spams, late = cases[:6], cases[6:14], cases[14:18], cases[18:22], cases[22:24]
    client = Client(suite)
    killed: dict[str, int] = {}
    began = time.monotonic()
    pool = eventlet.GreenPool(32)

    # -- tickets dies under merges and splits ---------------------------------------------------------
    pool.spawn(killer(suite, "tickets", client, 2, killed))
    for a, b in zip(merges[::2], merges[1::2], strict=True):
        body = {"primary_id": a["ticket_id"], "secondary_id": b["ticket_id"]}
        pool.spawn(client.call, "POST", "/api/v1/tickets/merge", body, key=f"m-{uuid.uuid4().hex}")
    for case in splits:
        body = {"message_ids": case["message_ids"][1:], "ticket": {"name": f"split of {case['ticket_id']}"}}
        pool.spawn(
            client.call, "POST", f"/api/v1/tickets/{case['ticket_id']}/split", body, key=uuid.uuid4().hex
        )
    pool.waitall()

    # -- conversations dies under deletes and spam marks ----------------------------------------------
    pool.spawn(killer(suite, "conversations", client, client.acked + 2, killed))
    for case in deletes:
        pool.spawn(client.call, "DELETE", f"/api/v1/tickets/{case['ticket_id']}")
    for case in spams:
        body = {"thread_ids": [case["thread_id"]]}
        pool.spawn(
            client.call, "POST", f"/api/v1/tickets/{case['ticket_id']}/spam", body, key=uuid.uuid4().hex
        )
    pool.waitall()

    # -- notifications dies as more merges arrive --------------------------------------------------------
    body = {"primary_id": late[0]["ticket_id"], "secondary_id": late[1]["ticket_id"]}
    pool.spawn(client.call, "POST", "/api/v1/tickets/merge", body, key=uuid.uuid4().hex)
    killed["notifications"] = running_jobs(suite)
    pool.spawn(kill, suite, "notifications")
    pool.waitall()
    load = time.monotonic() - began

    settled = wait_for(lambda: jobs_settled(suite), 45.0, interval=0.5)
    converged = time.monotonic() - began - load
    tickets = {r["id"]: r for r in rows(suite, "tickets", "SELECT * FROM tickets")}
    threads = rows(suite, "conversations", "SELECT * FROM threads")
    jobs = Counter(r["state"] for r in rows(suite, "tickets", "SELECT state FROM jobs"))
    retried = rows(suite, "tickets", "SELECT count(*) AS n FROM jobs WHERE attempts > 0")[0]["n"]
    print(
        f"\nlifecycle kill -9: {client.acked} actions acknowledged in {load:.1f}s, settled {converged:.1f}s"
        f" later; jobs running at each kill {killed}; jobs {dict(jobs)}, {retried} of them waited for a"
        f" service; statuses {dict(client.statuses)}"
    )
    assert settled, f"jobs did not finish: {dict(jobs)}"
    assert all(s != 500 for s in client.statuses), client.statuses

    problems = []
    for t in threads:
        ticket = tickets.get(t["ticket_id"])
        if t["spam_at"] is not None:
            continue
        if ticket is None:
            problems.append(f"thread {t['id']} points at missing ticket {t['ticket_id']}")
        elif ticket["merged_into_id"] is not None:
            problems.append(f"thread {t['id']} is on absorbed ticket {ticket['id']} (half-merged)")
        elif (t["deleted_at"] is None) != (ticket["deleted_at"] is None):
            problems.append(
                f"thread {t['id']} deleted={t['deleted_at']} but ticket deleted={ticket['deleted_at']}"
            )
    for a, b in [*zip(merges[::2], merges[1::2], strict=True), (late[0], late[1])]:
        if tickets[b["ticket_id"]]["merged_into_id"] != a["ticket_id"]:
            problems.append(f"ticket {b['ticket_id']} not merged into {a['ticket_id']}")
    by_message = {
        r["id"]: r["thread_id"] for r in rows(suite, "conversations", "SELECT id, thread_id FROM messages")
    }
    thread_ticket = {t["id"]: t["ticket_id"] for t in threads}
    for case in splits:
        moved = {thread_ticket[by_message[m]] for m in case["message_ids"][1:]}
        if len(moved) != 1 or moved == {case["ticket_id"]}:
            problems.append(f"split of {case['ticket_id']}: moved messages are on {moved}")
    for case in deletes:
        if tickets[case["ticket_id"]]["deleted_at"] is None:
            problems.append(f"ticket {case['ticket_id']} was not deleted")
    for case in spams:
        if next(t for t in threads if t["id"] == case["thread_id"])["spam_at"] is None:
            problems.append(f"thread {case['thread_id']} was not marked spam")
    assert not problems, "\n".join(problems)

    absorbed = {i for i, t in tickets.items() if t["merged_into_id"] is not None}

    def feed_retargeted() -> bool:
        named = {r["ticket_id"] for r in rows(suite, "notifications", "SELECT ticket_id FROM feed_items")}
        return not named & absorbed

    assert wait_for(feed_retargeted, 30.0, interval=0.5), "feed items still name absorbed tickets"


def test_sigkill_of_retention_mid_purge_finishes_it_once_and_never_early(
    suite_factory: Callable[..., Suite], make_vhost: Callable[[], str]
) -> None:
    period = 6.0
    days = f"{period / 86400:.10f}"
    env = {
        "HELPDESK_RETENTION_BIN_DAYS": days,
        "HELPDESK_RETENTION_SPAM_DAYS": days,
        "HELPDESK_RETENTION_EVERY_SECONDS": "1",
        "HELPDESK_RETENTION_BATCH": "10",
        "HELPDESK_RETENTION_PAUSE": "0.25",
    }
    suite = suite_factory(make_vhost(), env)
    client = Client(suite)
    cases = list(email_cases(suite, 6, replies=0).values())
    pool = eventlet.GreenPool(8)
    made: list[int] = []

    def create(n: int) -> None:
        made.append(
            client.call("POST", "/api/v1/tickets", {"name": f"old {n}"}, key=uuid.uuid4().hex).json()["id"]
        )

    for n in range(140):
        pool.spawn(create, n)
    pool.waitall()
    binned = made + [c["ticket_id"] for c in cases[:3]]
    answer = client.call("POST", "/api/v1/tickets/bulk-delete", {"ids": binned, "confirm_count": len(binned)})
    assert answer.status_code in (200, 202), answer.text
    for case in cases[3:]:
        client.call("POST", f"/api/v1/tickets/{case['ticket_id']}/spam", {"thread_ids": [case["thread_id"]]})
    spam_tickets = {c["ticket_id"] for c in cases[3:]}  # their only thread is spam: they go to the bin too
    expected = len(binned) + 2 * len(spam_tickets)

    def purged() -> int:
        return int(
            rows(suite, "retention", "SELECT count(*) AS n FROM purge_audit WHERE state = 'purged'")[0]["n"]
        )

    assert wait_for(lambda: purged() >= 10, 40.0, interval=0.05), "the purge never began"
    began = time.monotonic()
    at_kill = purged()
    kill(suite, "retention")
    assert wait_for(lambda: purged() >= expected, 60.0, interval=0.5), f"purged {purged()} of {expected}"
    finished = time.monotonic() - began
    audit = rows(suite, "retention", "SELECT * FROM purge_audit")
    left = rows(suite, "retention", "SELECT count(*) AS n FROM purge_audit WHERE state = 'purging'")[0]["n"]
    print(
        f"\nretention kill -9: {at_kill}/{expected} purged when killed; the rest {finished:.1f}s later;"
        f" audit rows {len(audit)}; statuses {dict(client.statuses)}"
    )
    assert left == 0, "intents left behind"
    assert Counter((a["kind"], a["item_id"]) for a in audit).most_common(1)[0][1] == 1, "an item purged twice"
    early = [
        dict(a)
        for a in audit
        if _moment(a["purged_at"]) < _moment(a["due_at"])
        or abs((_moment(a["due_at"]) - _moment(a["marked_at"])).total_seconds() - period) > 0.01
    ]
    assert not early, f"purged early: {early}"
    gone = {a["item_id"] for a in audit if a["kind"] == "bin_ticket"}
    assert gone == set(binned) | spam_tickets
    still = {r["id"] for r in rows(suite, "tickets", "SELECT id FROM tickets")}
    assert not gone & still
    threads = rows(suite, "conversations", "SELECT id, ticket_id, spam_at FROM threads")
    assert all(t["ticket_id"] is None or t["ticket_id"] in still for t in threads), (
        "a thread points at a purged ticket"
    )
    assert {a["item_id"] for a in audit if a["kind"] == "spam_thread"} == {c["thread_id"] for c in cases[3:]}


def _moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace(" ", "T"))
