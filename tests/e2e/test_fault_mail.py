"""Fault: the conversations or the tickets process is SIGKILLed while 200 mails arrive.

Four SMTP clients deliver 200 mails (each its own Message-ID), behaving like a mail server: a
4xx answer or a broken connection is retried with back-off, a 250 is final. Once 40 mails are
accepted, the process under test is killed with SIGKILL; the supervisor restarts it. Proves
that every accepted mail ends up exactly once, on exactly one thread, on exactly one ticket,
and that no ticket exists without its mail: the edge answered 250 only once the broker had the
mail, the consumer is idempotent by Message-ID, and each thread gets its ticket once (idempotency
key per thread, and a sweep for threads left waiting).

The figures are printed (``pytest -s``).
"""

from __future__ import annotations

import os
import random
import signal
import smtplib
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import eventlet
import pytest
from eventlet.queue import LightQueue

from tests.e2e.conftest import Suite, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.broker]

MAILS = 200
CLIENTS = 4
KILL_AFTER = 40
LOAD_BUDGET = 120.0
CONVERGE_BUDGET = 60.0


@dataclass
class Load:
    accepted: dict[str, float] = field(default_factory=dict)  # message id -> when
    answers: Counter[str] = field(default_factory=Counter)


def one_mail(n: int, message_id: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = f"customer{n}@example.com"
    mail["To"] = "support@localhost"
    mail["Subject"] = f"Load mail {n}"
    mail["Message-ID"] = f"<{message_id}>"
    mail.set_content(f"Mail number {n}.")
    return mail


def deliver_until_accepted(suite: Suite, n: int, message_id: str, load: Load, deadline: float) -> None:
    """Send until 250, as a mail server would (retry 4xx and broken connections)."""
    delay = 0.1
    while time.monotonic() < deadline:
        try:
            with smtplib.SMTP("127.0.0.1", suite.smtp_port, timeout=30) as client:
                client.send_message(one_mail(n, message_id))
            load.accepted[message_id] = time.monotonic()
            load.answers["250"] += 1
            return
        except smtplib.SMTPResponseException as exc:
            load.answers[str(exc.smtp_code)] += 1
            assert exc.smtp_code < 500, f"mail {n} refused for good: {exc}"
        except (OSError, smtplib.SMTPException) as exc:
            load.answers[type(exc).__name__] += 1
        eventlet.sleep(delay * random.uniform(0.5, 1.0))
        delay = min(delay * 2, 2.0)


class NotYet(Exception):
    """The suite answered something else than a page (a service is still coming back)."""


def _get(suite: Suite, path: str, params: dict[str, Any] | None = None) -> Any:
    response = suite.request("GET", path, params=params)
    if response.status_code != 200:
        raise NotYet(f"{path}: {response.status_code}")
    return response.json()


def complete(suite: Suite, wanted: set[str]) -> bool:
    try:
        return set(stored(suite)[0]) >= wanted
    except NotYet:
        return False


def stored(suite: Suite) -> tuple[Counter[str], int, list[int]]:
    """Every stored mail id with how often it is stored, the ticket total, tickets without mail."""
    counts: Counter[str] = Counter()
    empty: list[int] = []
    cursor: str | None = None
    total = 0
    while True:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = _get(suite, "/api/v1/tickets", params)
        total = page["total"]
        for ticket in page["items"]:
            threads = _get(suite, f"/api/v1/tickets/{ticket['id']}/threads")["items"]
            ids = [m["email_message_id"] for t in threads for m in t["messages"]]
            counts.update(ids)
            if not ids:
                empty.append(ticket["id"])
        cursor = page["next_cursor"]
        if not cursor:
            return counts, total, empty


@pytest.mark.parametrize("victim", ["conversations", "tickets"])
def test_sigkill_while_mail_arrives_loses_and_doubles_nothing(
    victim: str, suite_factory: Callable[[str], Suite], make_vhost: Callable[[], str]
) -> None:
    suite = suite_factory(make_vhost())
    load = Load()
    work: LightQueue = LightQueue()
    for n in range(MAILS):
        work.put((n, f"{uuid.uuid4().hex}@example.com"))
    deadline = time.monotonic() + LOAD_BUDGET

    def client() -> None:
        while not work.empty() and time.monotonic() < deadline:
            n, message_id = work.get()
            deliver_until_accepted(suite, n, message_id, load, deadline)

    killed: dict[str, Any] = {}

    def killer() -> None:
        if wait_for(lambda: len(load.accepted) >= KILL_AFTER, 60.0, interval=0.02):
            pid = suite.pid(victim)
            os.kill(pid, signal.SIGKILL)
            killed.update(at=time.monotonic(), pid=pid, accepted=len(load.accepted))

    began = time.monotonic()
    pool = eventlet.GreenPool(CLIENTS + 1)
    pool.spawn(killer)
    for _ in range(CLIENTS):
        pool.spawn(client)
    pool.waitall()
    load_seconds = time.monotonic() - began
    assert killed, f"the kill never happened ({len(load.accepted)} accepted)"
    assert len(load.accepted) == MAILS, f"only {len(load.accepted)} of {MAILS} mails accepted: {load.answers}"

    wanted = set(load.accepted)
    converge_began = time.monotonic()
    wait_for(lambda: complete(suite, wanted), CONVERGE_BUDGET, interval=2.0)
    converged = time.monotonic() - converge_began
    eventlet.sleep(2.0)  # a late redelivery must not add anything
    counts, total, empty = stored(suite)
    missing = sorted(wanted - set(counts))
    doubled = {i: n for i, n in counts.items() if n > 1}
    print(
        f"\nmail fault ({victim} killed after {killed['accepted']} accepted): {len(load.accepted)}/{MAILS}"
        f" accepted in {load_seconds:.1f}s, answers {dict(load.answers)}; converged {converged:.1f}s after"
        f" the load; tickets {total}, missing {len(missing)}, doubled {len(doubled)},"
        f" empty tickets {len(empty)}"
    )
    assert not missing, f"accepted mails not stored: {missing[:5]}..."
    assert not doubled, f"mails stored twice: {doubled}"
    assert not empty, f"tickets without their mail: {empty}"
    assert total == MAILS, f"{total} tickets for {MAILS} mails"
