"""Fault: the broker is stopped for 20 s under light load, then started again on the same data and port.

The suite runs against a private RabbitMQ node of this test's own. Two clients keep creating
tickets (one key each) before, during and after the outage. Proves that

* while the broker is down the gateway stays up and ``/readyz`` answers 503; creates fail fast
  with 503 or 504, never 500;
* no process gives up during the outage (the supervisor restarts nothing), and after the node
  returns the suite is ready again within ``READY_BUDGET`` (every service reconnects within about a
  second; ``/readyz`` is polled every half second);
* nothing acknowledged is lost: every ticket acknowledged before or after the outage exists and
  has exactly one ``ticket_created`` item in the admin's feed; creates that failed during the
  outage, replayed with the same key, are acknowledged once, and the list total equals the number
  of keys.

The figures (acknowledged, failures by status, lost, time to recover) are printed (``pytest -s``).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import eventlet
import pytest
import requests

from tests.conftest import PrivateRabbit
from tests.e2e.conftest import Suite, wait_for

pytestmark = pytest.mark.e2e

OUTAGE_SECONDS = 20.0
RECOVERY_BUDGET = 90.0
READY_BUDGET = 4.0
CLIENTS = 2
PACE = 0.3


class Load:
    """Clients creating tickets at a steady pace; each key is tried once (replayed at the end)."""

    def __init__(self, suite: Suite) -> None:
        self.suite = suite
        self.running = True
        self.phase = "before"
        self.bodies: dict[str, dict[str, Any]] = {}
        self.acked: dict[str, tuple[int, str]] = {}  # key -> (ticket id, phase)
        self.failed: dict[str, str] = {}  # key -> phase
        self.statuses: Counter[tuple[str, int | str]] = Counter()

    def client(self, number: int) -> None:
        session = requests.Session()
        n = 0
        try:
            while self.running:
                n += 1
                key = f"outage-{number}-{n}-{uuid.uuid4().hex[:6]}"
                body = {"name": f"outage load {number}/{n}", "description": key}
                self.bodies[key] = body
                phase = self.phase
                try:
                    response = self.suite.request(
                        "POST",
                        "/api/v1/tickets",
                        json=body,
                        headers={"Idempotency-Key": key},
                        session=session,
                        timeout=20,
                    )
                except requests.RequestException as exc:
                    self.statuses[(phase, type(exc).__name__)] += 1
                    self.failed[key] = phase
                else:
                    self.statuses[(phase, response.status_code)] += 1
                    if response.status_code == 201:
                        self.acked[key] = (response.json()["id"], phase)
                    else:
                        self.failed[key] = phase
                eventlet.sleep(PACE)
        finally:
            session.close()

    def acked_in(self, phase: str) -> int:
        return sum(1 for _id, p in self.acked.values() if p == phase)


def test_broker_outage_loses_nothing_acknowledged(
    private_rabbit: PrivateRabbit, suite_factory: Callable[[str], Suite]
) -> None:
    suite = suite_factory(private_rabbit.uri)
    gateway_pid = suite.pid("gateway")
    load = Load(suite)
    pool = eventlet.GreenPool(CLIENTS)
    for number in range(CLIENTS):
        pool.spawn(load.client, number)
    try:
        assert wait_for(lambda: load.acked_in("before") >= 10, 30.0), f"no progress: {load.statuses}"

        load.phase = "outage"
        private_rabbit.stop()
        down_at = time.monotonic()
        readyz: Counter[int | str] = Counter()
        while time.monotonic() - down_at < OUTAGE_SECONDS:
            try:
                readyz[suite.request("GET", "/readyz", token=None, timeout=10).status_code] += 1
            except requests.RequestException as exc:
                readyz[type(exc).__name__] += 1
            eventlet.sleep(1.0)

        private_rabbit.start()
        load.phase = "recovery"
        back_at = time.monotonic()
        recovery = suite.wait_ready(RECOVERY_BUDGET)
        load.phase = "after"
        assert wait_for(lambda: load.acked_in("after") >= 10, 60.0), f"no progress after: {load.statuses}"
    finally:
        load.running = False
        pool.waitall()

    # Creates that failed are replayed with their key: each must now be acknowledged exactly once.
    replayed: dict[str, tuple[int, str]] = {}
    for key, phase in load.failed.items():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            response = suite.request(
                "POST", "/api/v1/tickets", json=load.bodies[key], headers={"Idempotency-Key": key}
            )
            if response.status_code == 201:
                replayed[key] = (response.json()["id"], phase)
                break
            assert response.status_code in (503, 504), response.text
            eventlet.sleep(1.0)
    all_ids = {key: ticket_id for key, (ticket_id, _phase) in {**load.acked, **replayed}.items()}

    lost = [
        key
        for key, (ticket_id, _phase) in load.acked.items()
        if suite.request("GET", f"/api/v1/tickets/{ticket_id}").status_code != 200
    ]
    listed = suite.request("GET", "/api/v1/tickets", params={"limit": 1})
    expected = set(all_ids.values())

    def feed_counts() -> Counter[int]:
        return Counter(i["ticket_id"] for i in suite.feed() if i["type"] == "ticket_created")

    feed_began = time.monotonic()
    wait_for(lambda: set(feed_counts()) >= expected, 60.0, interval=1.0)
    feed_seconds = time.monotonic() - feed_began
    eventlet.sleep(2.0)
    counts = feed_counts()
    missing = sorted(expected - set(counts))
    doubled = {i: n for i, n in counts.items() if n > 1}

    statuses = dict(load.statuses)
    supervisor_log = (suite.data_dir / "logs" / "supervisor.log").read_text(errors="replace")
    restarts = Counter(
        line.split(" (")[0] for line in supervisor_log.splitlines() if "; restarting in" in line
    )
    print(
        f"\nfault broker outage: acknowledged before {load.acked_in('before')}, during"
        f" {load.acked_in('outage')}, recovering {load.acked_in('recovery')}, after {load.acked_in('after')};"
        f" failed {len(load.failed)} (replayed {len(replayed)}); statuses {statuses}; /readyz while down"
        f" {dict(readyz)}; ready {recovery:.1f}s after the node was back"
        f" ({time.monotonic() - back_at:.0f}s ago); feed complete after {feed_seconds:.1f}s more;"
        f" lost {len(lost)}; feed missing {len(missing)}, doubled {len(doubled)};"
        f" restarts by the supervisor {dict(restarts)}"
    )
    assert suite.pid("gateway") == gateway_pid, "the gateway must ride out the outage without a restart"
    assert not restarts, f"processes gave up during the outage: {dict(restarts)}"
    assert recovery <= READY_BUDGET, f"ready only {recovery:.1f}s after the broker returned"
    assert set(readyz) == {503}, f"/readyz while the broker was down: {readyz}"
    assert not [s for s in statuses if s[1] == 500], f"500 answers: {statuses}"
    assert all(s[1] in (201, 503, 504) for s in statuses), f"unexpected answers: {statuses}"
    assert not lost, f"acknowledged tickets lost: {lost}"
    assert len(replayed) == len(load.failed), (
        f"failed creates not acknowledged on replay: {load.failed.keys() - replayed.keys()}"
    )
    assert len(expected) == len(all_ids), "two keys share a ticket"
    if listed.status_code != 404:
        assert listed.status_code == 200, listed.text
        assert listed.json()["total"] == len(all_ids), (
            f"{listed.json()['total']} tickets for {len(all_ids)} keys"
        )
    assert not missing, f"tickets without their ticket_created item: {missing}"
    assert not doubled, f"tickets with more than one ticket_created item: {doubled}"
