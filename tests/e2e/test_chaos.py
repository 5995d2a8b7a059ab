"""Chaos: under steady load, SIGKILL a random service instance or RabbitMQ node every 10-30 s,
always restarting it; at the end nothing acknowledged is lost or doubled and nothing is stuck.

The suite runs two instances of every service and of the gateway, on PostgreSQL, against a
3-node RabbitMQ cluster (quorum queues; every process is given all three nodes' URIs). Eight
clients loop over create (``Idempotency-Key``), read, edit (``If-Match``); every third round a
customer's message comes in by intake instead (a ticket and its thread; when the tickets service
does not answer in time the intake is acknowledged with ``ticket_id: null`` and the thread gets its
ticket from the conversations service's sweep, which the end checks) and an agent replies on
the thread (emailed to an SMTP sink); every fourth round the client merges its two previous
tickets (a ``ticket_created`` notification held up across a kill until after its ticket's merge
must still name the survivor). Every write carries an ``Idempotency-Key``; a connection error
or a 502/503/504 is retried with the same key. Every 10-30 s a victim is picked at random: one of the
13 service and gateway instances (the supervisor restarts it) or one of the three broker nodes
(restarted here a few seconds later, and never a second one while one is down: quorum queues need
a majority); every third victim, from the second on, is a node. It lasts
``HELPDESK_CHAOS_SECONDS`` (120 in ``make test``; ``make test-chaos`` runs 600). Proves that at
the end

* every acknowledged create exists exactly once with its acknowledged edit, and the list's total
  is the number of acknowledged creates less the acknowledged merges (no ghost from a request run
  twice); every acknowledged merge holds (the absorbed id answers 301 to its survivor);
* every acknowledged intake and reply is on its thread exactly once, and every reply reached the
  SMTP sink (at least once: a sender killed between the server's answer and its own record sends
  again, so resends are counted, not failed);
* every ticket has exactly one ``ticket_created`` item in the admin's feed per ticket it absorbed
  or is (events' effects once; a merge retargets the absorbed ticket's items), and the feed names
  no ticket nobody saw acknowledged;
* every dead-letter queue is empty and no queue holds a message (nothing stuck);
* no request failed for good;

and prints the lost / duplicated / recovered counts and the longest unavailability (the longest
time without any successful answer to any client).
"""

from __future__ import annotations

import email
import os
import random
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from pathlib import Path
from typing import Any
from urllib.parse import quote

import eventlet
import pytest
import requests

from services import registry
from tests.conftest import ClusterUnderTest
from tests.conftest import test_db_kind as db_kind
from tests.e2e import conftest as e2e_conftest
from tests.e2e.conftest import TWO_OF_EVERYTHING, Suite, count_tickets, postgres_urls, wait_for
from tests.mail_fixtures import SmtpSink

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.db,
    pytest.mark.cluster,
    pytest.mark.skipif(db_kind() != "postgresql", reason="several instances per service need PostgreSQL"),
]

CLIENTS = 8
SUITE_READY_TIMEOUT = 240.0  # 13 processes starting on two busy cores
RETRIED = (502, 503, 504)
RETRY_BUDGET = 90.0
INSTANCES = [n for c in [*registry.SERVICES, registry.GATEWAY] for n in (c.name, f"{c.name}-2")]
NODE_DOWN = (3.0, 8.0)  # seconds a killed broker node stays down
CONVERGE = 120.0


@dataclass
class Load:
    created: dict[str, int] = field(default_factory=dict)
    edited: dict[int, str] = field(default_factory=dict)
    taken_in: dict[str, int] = field(default_factory=dict)  # intake key -> its ticket
    awaiting: dict[str, int] = field(default_factory=dict)  # intake key -> thread still making its ticket
    messages: dict[int, list[str]] = field(default_factory=dict)  # thread -> acknowledged texts
    merged: dict[int, int] = field(default_factory=dict)  # absorbed ticket -> survivor
    statuses: Counter[int | str] = field(default_factory=Counter)
    recovered: int = 0  # requests that needed a retry and then succeeded
    failed: list[str] = field(default_factory=list)
    answered: list[float] = field(default_factory=list)  # moments of successful answers
    running: bool = True


def attempt(
    suite: Suite, load: Load, session: requests.Session, method: str, path: str, **kw: Any
) -> requests.Response | None:
    deadline = time.monotonic() + RETRY_BUDGET
    retried = False
    while time.monotonic() < deadline:
        try:
            response = suite.request(method, path, session=session, timeout=15, **kw)
        except requests.RequestException as exc:
            load.statuses[type(exc).__name__] += 1
        else:
            load.statuses[response.status_code] += 1
            if response.status_code not in RETRIED:
                load.answered.append(time.monotonic())
                load.recovered += retried
                return response
        retried = True
        eventlet.sleep(random.uniform(0.1, 0.5))
    load.failed.append(f"{method} {path}: gave up after {RETRY_BUDGET:g}s")
    return None


def converse(suite: Suite, load: Load, session: requests.Session, key: str) -> None:
    """A customer's message by intake (a new ticket and thread), then an agent's reply on it."""
    body = {
        "channel": "form",
        "from": {"email": "chaos@example.com", "name": "Chaos"},
        "subject": key,
        "body": key,
    }
    taken = attempt(
        suite, load, session, "POST", "/api/v1/intake/messages", json=body, headers={"Idempotency-Key": key}
    )
    if taken is None or taken.status_code != 201:
        if taken is not None:
            load.failed.append(f"intake {key}: {taken.status_code} {taken.text[:200]}")
        return
    thread_id, ticket_id = taken.json()["thread_id"], taken.json()["ticket_id"]
    if ticket_id is None:  # tickets did not answer in time: the thread gets its ticket from the sweep
        load.awaiting[key] = thread_id
    else:
        load.taken_in[key] = ticket_id
    load.messages[thread_id] = [key]
    reply = {"kind": "reply", "body": f"reply to {key}"}
    headers = {"Idempotency-Key": f"{key}-reply"}
    sent = attempt(
        suite, load, session, "POST", f"/api/v1/threads/{thread_id}/messages", json=reply, headers=headers
    )
    if sent is not None and sent.status_code == 201:
        load.messages[thread_id].append(reply["body"])
    elif sent is not None:
        load.failed.append(f"reply on {thread_id}: {sent.status_code} {sent.text[:200]}")


def merge(
    suite: Suite, load: Load, session: requests.Session, primary: int, secondary: int, key: str
) -> None:
    body = {"primary_id": primary, "secondary_id": secondary}
    done = attempt(
        suite, load, session, "POST", "/api/v1/tickets/merge", json=body, headers={"Idempotency-Key": key}
    )
    if done is not None and done.status_code == 200:
        load.merged[secondary] = primary
    elif done is not None:
        load.failed.append(f"merge {secondary} into {primary}: {done.status_code} {done.text[:200]}")


def client(suite: Suite, load: Load, n: int) -> None:
    session = requests.Session()
    mine: list[int] = []  # this client's tickets, not merged yet
    i = 0
    while load.running:
        i += 1
        key = f"chaos-{n}-{i}-{uuid.uuid4().hex[:6]}"
        if i % 3 == 0:
            converse(suite, load, session, key)
            continue
        if i % 4 == 0 and len(mine) >= 2:
            secondary, primary = mine.pop(), mine.pop()
            merge(suite, load, session, primary, secondary, key)
            continue
        headers = {"Idempotency-Key": key}
        body = {"name": f"chaos {n}/{i}", "description": key}
        created = attempt(suite, load, session, "POST", "/api/v1/tickets", json=body, headers=headers)
        if created is None or created.status_code != 201:
            if created is not None:
                load.failed.append(f"create {key}: {created.status_code} {created.text[:200]}")
            continue
        ticket_id = created.json()["id"]
        load.created[key] = ticket_id
        read = attempt(suite, load, session, "GET", f"/api/v1/tickets/{ticket_id}")
        if read is None or read.status_code != 200:
            if read is not None:
                load.failed.append(f"read {ticket_id}: {read.status_code} {read.text[:200]}")
            continue
        name = f"chaos {n}/{i} edited"
        patch = {"json": {"name": name}, "headers": {"If-Match": read.headers["ETag"]}}
        edit = attempt(suite, load, session, "PATCH", f"/api/v1/tickets/{ticket_id}", **patch)
        if edit is not None and edit.status_code == 412:  # a retried edit that had been applied
            again = attempt(suite, load, session, "GET", f"/api/v1/tickets/{ticket_id}")
            if again is not None and again.status_code == 200 and again.json()["name"] == name:
                load.edited[ticket_id] = name
                mine.append(ticket_id)
                continue
        if edit is not None and edit.status_code == 200:
            load.edited[ticket_id] = name
            mine.append(ticket_id)
        elif edit is not None:
            load.failed.append(f"edit {ticket_id}: {edit.status_code} {edit.text[:200]}")
    session.close()


def run_pids(data_dir: Path) -> dict[str, int]:
    pids = {}
    for path in (data_dir / "run").glob("*.pid"):
        try:
            pids[path.stem] = int(path.read_text().strip())
        except (OSError, ValueError):
            continue
    return pids


def chaos(suite: Suite, cluster: ClusterUnderTest, load: Load, until: float, kills: list[str]) -> None:
    rng = random.Random()
    while time.monotonic() < until:
        eventlet.sleep(rng.uniform(10, 30))
        if time.monotonic() >= until:
            return
        if len(kills) % 3 == 1:  # the 2nd, 5th, 8th... victim is a broker node; the rest instances
            index = rng.randrange(len(cluster.nodes))
            kills.append(f"node {cluster.nodes[index].name}")
            cluster.kill(index)
            eventlet.sleep(rng.uniform(*NODE_DOWN))
            try:
                cluster.restart(index)  # green subprocesses: the load keeps going meanwhile
            except Exception as exc:  # the end of the test checks every node is back
                kills.append(f"(restart of {cluster.nodes[index].name} failed: {exc})")
        else:
            name = rng.choice(INSTANCES)
            pid = run_pids(suite.data_dir).get(name)
            if pid is None:
                continue  # being restarted after an earlier kill
            kills.append(name)
            os.kill(pid, signal.SIGKILL)


def queue_depths(cluster: ClusterUnderTest, vhost: str) -> dict[str, int]:
    found = cluster.management("GET", f"queues/{quote(vhost, safe='')}")
    return {q["name"]: int(q.get("messages") or 0) for q in found if q.get("durable")}


def plain_text(raw: bytes) -> str:
    body = email.message_from_bytes(raw, policy=policy.default).get_body(preferencelist=("plain",))
    return str(body.get_content()) if body is not None else ""


def survivor(load: Load, ticket_id: int) -> int:
    while ticket_id in load.merged:
        ticket_id = load.merged[ticket_id]
    return ticket_id


def thread_texts(suite: Suite, thread_id: int) -> list[str]:
    texts: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = suite.request("GET", f"/api/v1/threads/{thread_id}/messages", params=params)
        assert page.status_code == 200, page.text
        texts.extend(m["text"].strip() for m in page.json()["items"])
        cursor = page.json()["next_cursor"]
        if not cursor:
            return texts


def test_chaos_loses_and_doubles_nothing(
    suite_factory: Callable[..., Suite],
    rabbit_cluster: ClusterUnderTest,
    cluster_vhost: str,
    smtp_sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(e2e_conftest, "READY_TIMEOUT", SUITE_READY_TIMEOUT)
    seconds = float(os.environ.get("HELPDESK_CHAOS_SECONDS") or 120)
    env = {
        "HELPDESK_SCALE": TWO_OF_EVERYTHING,
        "HELPDESK_QUEUE_TYPE": "quorum",
        "HELPDESK_SMTP_RELAY": f"127.0.0.1:{smtp_sink.port}",
        **postgres_urls("t_chaos"),
    }
    suite = suite_factory(rabbit_cluster.uri_for(cluster_vhost), env)
    load = Load()
    kills: list[str] = []
    began = time.monotonic()
    pool = eventlet.GreenPool(CLIENTS + 1)
    for n in range(CLIENTS):
        pool.spawn(client, suite, load, n)
    pool.spawn(chaos, suite, rabbit_cluster, load, began + seconds, kills)
    eventlet.sleep(seconds)
    load.running = False
    pool.waitall()
    load_seconds = time.monotonic() - began
    assert len(rabbit_cluster.running()) == 3 or wait_for(lambda: len(rabbit_cluster.running()) == 3, 60)
    assert suite.wait_ready(60) >= 0

    gaps = [b - a for a, b in zip(sorted(load.answered), sorted(load.answered)[1:], strict=False)]
    longest = max(gaps, default=0.0)

    # -- every acknowledged write exactly once ---------------------------------------------------
    lost = []

    def thread_ticket(thread_id: int) -> int | None:
        read = suite.request("GET", f"/api/v1/threads/{thread_id}")
        assert read.status_code == 200, read.text
        return read.json()["ticket_id"]

    # answered before tickets made their ticket: the sweep makes it
    wait_for(lambda: None not in map(thread_ticket, load.awaiting.values()), CONVERGE, interval=1.0)
    for key, thread_id in load.awaiting.items():
        made = thread_ticket(thread_id)
        if made is None:
            lost.append(f"intake {key}: thread {thread_id} never got its ticket")
        else:
            load.taken_in[key] = made
    for key, ticket_id in load.created.items():
        read = suite.request("GET", f"/api/v1/tickets/{ticket_id}", allow_redirects=False)
        if ticket_id in load.merged:
            target = read.headers.get("Location", "")
            if read.status_code != 301 or not target.endswith(f"/tickets/{survivor(load, ticket_id)}"):
                lost.append(f"merge of {ticket_id}: {read.status_code} {target}")
        elif read.status_code != 200 or read.json()["description"] != key:
            lost.append(f"{key} -> {ticket_id}: {read.status_code}")
        elif ticket_id in load.edited and read.json()["name"] != load.edited[ticket_id]:
            lost.append(f"edit of {ticket_id}: {read.json()['name']!r}")
    for key, ticket_id in load.taken_in.items():
        if suite.request("GET", f"/api/v1/tickets/{ticket_id}").status_code != 200:
            lost.append(f"intake {key} -> ticket {ticket_id}")
    acknowledged = [*load.created.values(), *load.taken_in.values()]
    shared = {i: n for i, n in Counter(acknowledged).items() if n > 1}
    total = count_tickets(suite)
    expected_total = len(acknowledged) - len(load.merged)

    # -- every message once on its thread, every reply mailed ---------------------------------------
    messages_lost, messages_doubled = [], []
    for thread_id, texts in load.messages.items():
        found = Counter(thread_texts(suite, thread_id))
        messages_lost += [f"{thread_id}: {t}" for t in texts if found[t] == 0]
        messages_doubled += [f"{thread_id}: {t} x{found[t]}" for t in texts if found[t] > 1]
    replies = [t for texts in load.messages.values() for t in texts if t.startswith("reply to ")]

    def mailed() -> Counter[str]:
        texts = [plain_text(raw) for raw in smtp_sink.messages()]
        return Counter(r for text in texts for r in replies if r in text)

    wait_for(lambda: set(mailed()) >= set(replies), CONVERGE, interval=2.0)
    sent = mailed()
    unmailed = [r for r in replies if not sent[r]]
    resent = sum(n - 1 for n in sent.values() if n > 1)

    # -- every event's effect exactly once -------------------------------------------------------
    expected = Counter(survivor(load, t) for t in acknowledged)

    def feed_counts() -> Counter[int]:
        return Counter(i["ticket_id"] for i in suite.feed(max_pages=1000) if i["type"] == "ticket_created")

    wait_for(lambda: feed_counts() == expected, CONVERGE, interval=2.0)
    eventlet.sleep(3.0)
    counts = feed_counts()
    missing = sorted(t for t, n in expected.items() if counts[t] < n)
    doubled = {t: n for t, n in counts.items() if t in expected and n > expected[t]}
    ghosts = sorted(set(counts) - set(expected))

    # -- nothing parked, nothing stuck -------------------------------------------------------------
    wait_for(lambda: not any(queue_depths(rabbit_cluster, cluster_vhost).values()), 60, interval=1.0)
    depths = {q: n for q, n in queue_depths(rabbit_cluster, cluster_vhost).items() if n}

    print(
        f"\nchaos {load_seconds:.0f}s, {len(kills)} kills ({', '.join(kills)}):"
        f" {len(load.created)} creates, {len(load.edited)} edits, {len(load.taken_in)} intakes"
        f" ({len(load.awaiting)} answered before their ticket),"
        f" {len(replies)} replies and {len(load.merged)} merges acknowledged; lost {len(lost)},"
        f" duplicated {len(shared)}, applied but never acknowledged {max(0, total - expected_total)}"
        f" (list total {total}); messages lost {len(messages_lost)}, doubled {len(messages_doubled)};"
        f" replies unmailed {len(unmailed)}, mailed again {resent};"
        f" recovered {load.recovered} requests after retries, failed {len(load.failed)};"
        f" feed missing {len(missing)}, doubled {len(doubled)}, ghosts {len(ghosts)};"
        f" longest unavailability {longest:.1f}s; statuses {dict(load.statuses)}; queues left {depths}"
    )
    # a node's restart blocks the next kill and takes up to a minute on a loaded machine
    assert len(kills) >= max(2, seconds // 60), f"too few kills: {kills}"
    assert any(kill.startswith("node ") for kill in kills), f"no broker node was killed: {kills}"
    assert not load.failed, f"failed requests: {load.failed[:10]}"
    assert not lost, f"acknowledged writes lost: {lost[:10]}"
    assert not shared and total == expected_total, f"{total} tickets, {expected_total} expected"
    assert not messages_lost and not messages_doubled, f"{messages_lost[:10]} {messages_doubled[:10]}"
    assert not unmailed, f"replies never mailed: {unmailed[:10]}"
    assert load.taken_in and replies, "the load took no message in or made no reply"
    assert load.merged, "the load made no merge"
    assert not missing, f"tickets without their ticket_created item: {missing[:20]}"
    assert not doubled, f"ticket_created items doubled: {doubled}"
    assert not ghosts, f"items of tickets nobody saw acknowledged: {ghosts[:20]}"
    assert not depths, f"messages left in queues (dead letters or stuck): {depths}"
    assert 500 not in load.statuses, f"the gateway answered 500: {load.statuses}"
