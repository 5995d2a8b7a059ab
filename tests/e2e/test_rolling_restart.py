"""Rolling restart: every instance of a two-instances-of-everything suite is restarted, one at a
time, while eight clients create, read and edit tickets.

The supervisor runs two instances of every service and of the gateway (on PostgreSQL: several
instances need it) and restarts them one after the other on SIGHUP: SIGTERM (the instance stops
consuming, lets its workers finish, exits), start again, wait for its ready line. Eight clients
meanwhile loop over create (with an ``Idempotency-Key``), read, edit (with ``If-Match``). A
connection refused or reset, or a 502/503/504, is retried with the same key (the request never
reached a worker, or its replay is recognised); anything else counts as a failed request.
Proves that

* no request fails, and the gateway never answers 500;
* no acknowledged write is lost: every acknowledged ticket exists once with its edit, the list's
  total equals the acknowledged creates;
* nothing is left unacknowledged, parked or stuck: every durable queue is empty at the end;

and prints retries, p50/p99 latency in steady state and during the restart, and how long it took.
"""

from __future__ import annotations

import base64
import json
import random
import signal
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import eventlet
import pytest
import requests

from tests.conftest import test_db_kind as db_kind
from tests.e2e import conftest as e2e_conftest
from tests.e2e.conftest import TWO_OF_EVERYTHING, Suite, count_tickets, postgres_urls, wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.db,
    pytest.mark.skipif(db_kind() != "postgresql", reason="several instances per service need PostgreSQL"),
]

CLIENTS = 8
SUITE_READY_TIMEOUT = 240.0  # 13 processes starting on two busy cores
STEADY_SECONDS = 10.0
RESTART_BUDGET = 420.0
RETRY_BUDGET = 60.0
RETRIED = (502, 503, 504)


@dataclass
class Load:
    created: dict[str, int] = field(default_factory=dict)  # key -> id
    edited: dict[int, str] = field(default_factory=dict)  # id -> name it was acknowledged with
    statuses: Counter[int | str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    failed: list[str] = field(default_factory=list)
    latencies: list[tuple[float, float]] = field(default_factory=list)  # (sent, seconds)
    running: bool = True


def attempt(
    suite: Suite, load: Load, session: requests.Session, what: str, method: str, path: str, **kw: Any
) -> requests.Response | None:
    """One request, retried while it did not reach a worker; None when it failed for good."""
    deadline = time.monotonic() + RETRY_BUDGET
    while time.monotonic() < deadline:
        sent = time.monotonic()
        try:
            response = suite.request(method, path, session=session, timeout=20, **kw)
        except requests.RequestException as exc:
            load.statuses[type(exc).__name__] += 1
            load.retries[what] += 1
            eventlet.sleep(random.uniform(0.05, 0.3))
            continue
        load.statuses[response.status_code] += 1
        if response.status_code in RETRIED:
            load.retries[what] += 1
            eventlet.sleep(random.uniform(0.05, 0.3))
            continue
        load.latencies.append((sent, time.monotonic() - sent))
        return response
    load.failed.append(f"{what} {path}: gave up after {RETRY_BUDGET:g}s")
    return None


def client(suite: Suite, load: Load, n: int) -> None:
    session = requests.Session()
    i = 0
    while load.running:
        i += 1
        key = f"roll-{n}-{i}-{uuid.uuid4().hex[:6]}"
        body = {"name": f"rolling {n}/{i}", "description": key}
        created = attempt(
            suite,
            load,
            session,
            "create",
            "POST",
            "/api/v1/tickets",
            json=body,
            headers={"Idempotency-Key": key},
        )
        if created is None:
            continue
        if created.status_code != 201:
            load.failed.append(f"create {key}: {created.status_code} {created.text[:200]}")
            continue
        ticket_id = created.json()["id"]
        load.created[key] = ticket_id
        read = attempt(suite, load, session, "read", "GET", f"/api/v1/tickets/{ticket_id}")
        if read is None:
            continue
        if read.status_code != 200:
            load.failed.append(f"read {ticket_id}: {read.status_code} {read.text[:200]}")
            continue
        name = f"rolling {n}/{i} edited"
        edit = attempt(
            suite,
            load,
            session,
            "edit",
            "PATCH",
            f"/api/v1/tickets/{ticket_id}",
            json={"name": name},
            headers={"If-Match": read.headers["ETag"]},
        )
        if edit is None:
            continue
        if edit.status_code == 412:  # a retried edit that had been applied: the version moved on
            again = attempt(suite, load, session, "read", "GET", f"/api/v1/tickets/{ticket_id}")
            if again is not None and again.status_code == 200 and again.json()["name"] == name:
                load.edited[ticket_id] = name
                continue
        if edit.status_code != 200:
            load.failed.append(f"edit {ticket_id}: {edit.status_code} {edit.text[:200]}")
            continue
        load.edited[ticket_id] = name
    session.close()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def queue_depths(rabbit: dict[str, Any], amqp_uri: str) -> dict[str, int]:
    """Messages (ready and unacknowledged) in each durable queue of the URI's vhost."""
    vhost = urlsplit(amqp_uri).path.lstrip("/")  # already quoted
    request = urllib.request.Request(
        f"http://{rabbit['host']}:{rabbit['mgmt_port']}/api/queues/{vhost}",
        headers={"Authorization": "Basic " + base64.b64encode(b"guest:guest").decode()},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        found = json.loads(answer.read())
    return {q["name"]: int(q.get("messages") or 0) for q in found if q.get("durable")}


def test_rolling_restart_under_load_fails_and_loses_nothing(
    suite_factory: Callable[..., Suite],
    make_vhost: Callable[[], str],
    rabbit: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(e2e_conftest, "READY_TIMEOUT", SUITE_READY_TIMEOUT)
    amqp_uri = make_vhost()
    suite = suite_factory(amqp_uri, {"HELPDESK_SCALE": TWO_OF_EVERYTHING, **postgres_urls("t_roll")})
    load = Load()
    pool = eventlet.GreenPool(CLIENTS)
    for n in range(CLIENTS):
        pool.spawn(client, suite, load, n)
    eventlet.sleep(STEADY_SECONDS)
    assert suite.proc is not None
    began = time.monotonic()
    suite.proc.send_signal(signal.SIGHUP)
    done = wait_for(lambda: "rolling restart done" in suite.tail(400), RESTART_BUDGET, interval=1.0)
    restart_seconds = time.monotonic() - began
    eventlet.sleep(3.0)
    load.running = False
    pool.waitall()
    assert done, f"the rolling restart did not finish in {RESTART_BUDGET:g}s:\n{suite.tail()}"

    lost = []
    for key, ticket_id in load.created.items():
        read = suite.request("GET", f"/api/v1/tickets/{ticket_id}")
        if read.status_code != 200 or read.json()["description"] != key:
            lost.append(f"{key} -> {ticket_id}: {read.status_code}")
        elif ticket_id in load.edited and read.json()["name"] != load.edited[ticket_id]:
            lost.append(f"edit of {ticket_id}: {read.json()['name']!r}")
    total = count_tickets(suite)
    # nothing left unacknowledged or parked (the broker's figures lag by a few seconds)
    wait_for(lambda: not any(queue_depths(rabbit, amqp_uri).values()), 30, interval=1.0)
    depths = {q: n for q, n in queue_depths(rabbit, amqp_uri).items() if n}
    steady = [s for t, s in load.latencies if t < began]
    rolling = [s for t, s in load.latencies if began <= t <= began + restart_seconds]
    restarts = [line for line in suite.tail(100_000).splitlines() if "| rolling restart:" in line]
    ms = {k: percentile(v, 0.5) * 1000 for k, v in (("steady", steady), ("rolling", rolling))}
    p99 = {k: percentile(v, 0.99) * 1000 for k, v in (("steady", steady), ("rolling", rolling))}
    print(
        f"\nrolling restart of {len(restarts)} instances in {restart_seconds:.1f}s under {CLIENTS} clients:"
        f" {len(load.created)} creates and {len(load.edited)} edits acknowledged, failed {len(load.failed)},"
        f" lost {len(lost)}, list total {total}; retried {dict(load.retries)};"
        f" statuses {dict(load.statuses)}; latency p50/p99 steady {ms['steady']:.0f}/{p99['steady']:.0f} ms,"
        f" during the restart {ms['rolling']:.0f}/{p99['rolling']:.0f} ms; queues left {depths}"
    )
    assert not load.failed, f"failed requests: {load.failed[:10]}"
    assert not lost, f"acknowledged writes lost: {lost[:10]}"
    assert total == len(load.created), f"{total} tickets for {len(load.created)} acknowledged creates"
    assert not depths, f"messages left in queues (unacknowledged, parked or stuck): {depths}"
    assert 500 not in load.statuses, f"the gateway answered 500: {load.statuses}"
