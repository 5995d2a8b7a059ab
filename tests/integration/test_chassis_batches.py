"""Batch subscriptions over a real RabbitMQ: a backlog is handled in batches, nothing is lost or
handled twice, and one poison event costs its batch-mates nothing but a second attempt.

Proves that

* a backlog waiting when the service starts reaches the handler in batches larger than one, in
  the order it was published, every event exactly once, never more than ``concurrency`` batches
  at once and never more than ``max_batch`` events in one; the consumer's prefetch is the
  batches' (``max_batch * (concurrency + 1)``), not the container's ``max_workers``, and holds a
  full next batch: one batch at a time through a backlog, every batch between the first and the
  last is full;
* a batch whose handler raises is handled again event by event: the good events take effect
  once, the poison event is retried ``max_attempts`` times alone and parked with its error;
* an event the envelope check refuses is parked at once and does not hold up the others;
* with ``gather_seconds``, a trickle of events is handled in batches started at least that far
  apart, while the first event, and one after a quiet spell, is handled at once;
* with ``gather_full_rate`` as well, a slow trickle is handled as it arrives (its batches start
  less than the span apart) while a fast one is still gathered.
"""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

import eventlet
import pytest
from kombu import Connection

from deploy import dlq
from services.chassis.batches import subscribe_batch
from services.chassis.events import ATTEMPT_HEADER, ERROR_HEADER, declare_subscription, queue_name
from tests.broker import confirming, publish_event, wait_until
from tests.conftest import IDENTITY_SECRET

pytestmark = pytest.mark.broker

SOURCE = "evt_source"
THING = "thing_happened"
SERVICE = "batcher"
QUEUE = queue_name(SOURCE, THING, SERVICE, "handle_things")
MAX_BATCH = 6

batches: list[list[str]] = []
effects: list[str] = []
running = {"now": 0, "most": 0}


class Batcher:
    name = SERVICE

    @subscribe_batch(SOURCE, THING, max_attempts=2, max_batch=MAX_BATCH, concurrency=2)
    def handle_things(self, payloads: list[dict[str, Any]]) -> None:
        running["now"] += 1
        running["most"] = max(running["most"], running["now"])
        try:
            batches.append([p["event_id"] for p in payloads])
            eventlet.sleep(0.05)  # a lookup or a commit: the next events queue up meanwhile
            poison = [p["event_id"] for p in payloads if p.get("poison")]
            if poison:  # like a transaction rolled back: nothing of the batch takes effect
                raise ValueError(f"cannot handle {poison[0]}")
            effects.extend(p["event_id"] for p in payloads)
        finally:
            running["now"] -= 1


def event(**extra: Any) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "occurred_at": "2024-01-01T00:00:00+00:00", **extra}


@pytest.fixture(autouse=True)
def _reset() -> None:
    batches.clear()
    effects.clear()
    running.update(now=0, most=0)


def backlog(vhost_uri: str, events: list[dict[str, Any]]) -> None:
    """Publish ``events`` to the declared queue while nobody consumes it."""
    with Connection(vhost_uri) as conn:
        declare_subscription(conn, SOURCE, THING, SERVICE, "handle_things")
    for payload in events:
        publish_event(vhost_uri, SOURCE, THING, payload)


def start(container_factory: Any, vhost_uri: str) -> Any:
    container = container_factory(Batcher, {"AMQP_URI": vhost_uri, "IDENTITY_SECRET": IDENTITY_SECRET})
    container.start()
    return container


def test_a_backlog_is_handled_in_bounded_batches_in_order_each_event_once(
    container_factory: Any, vhost_uri: str
) -> None:
    events = [event() for _ in range(40)]
    backlog(vhost_uri, events)
    start(container_factory, vhost_uri)
    wait_until(lambda: len(effects) >= len(events), 20.0, "every event to take effect")
    eventlet.sleep(0.5)  # time enough for any second delivery

    assert effects == [e["event_id"] for e in events], "each event once, in the order published"
    assert max(len(b) for b in batches) > 1, f"a backlog must be batched: {batches}"
    assert max(len(b) for b in batches) <= MAX_BATCH
    assert running["most"] <= 2
    with Connection(vhost_uri) as conn:
        assert dlq.depth(conn, QUEUE) == 0
        assert dlq.depth(conn, f"{QUEUE}.dead") == 0


class WideBatcher:
    """One batch at a time, larger than the container's ``max_workers`` (its prefetch otherwise)."""

    name = SERVICE

    @subscribe_batch(SOURCE, THING, max_batch=8, concurrency=1)
    def handle_things(self, payloads: list[dict[str, Any]]) -> None:
        batches.append([p["event_id"] for p in payloads])
        eventlet.sleep(0.1)
        effects.extend(p["event_id"] for p in payloads)


def test_a_batch_subscription_prefetches_for_its_batches_and_a_full_next_one(
    container_factory: Any, vhost_uri: str
) -> None:
    """Not the worker pool's prefetch (3 here), and not only the running batch's: with that, the
    next batch would start from the few events the broker sent after its ack, and a backlog would
    go through in pieces of 7, 1, 7, 1..."""
    events = [event() for _ in range(40)]
    backlog(vhost_uri, events)
    config = {"AMQP_URI": vhost_uri, "IDENTITY_SECRET": IDENTITY_SECRET, "max_workers": 3}
    container_factory(WideBatcher, config).start()
    wait_until(lambda: len(effects) >= len(events), 20.0, "every event to take effect")
    assert effects == [e["event_id"] for e in events]
    assert [len(b) for b in batches[1:-1]] == [8] * (len(batches) - 2), batches


GATHER = 0.3
started: list[float] = []


def record_started(payloads: list[dict[str, Any]]) -> None:
    """A batch's start time, its events and their effects, for the gathering tests."""
    started.append(time.monotonic())
    batches.append([p["event_id"] for p in payloads])
    effects.extend(p["event_id"] for p in payloads)


class GatheringBatcher:
    """Quick batches started ``GATHER`` seconds apart at the closest."""

    name = SERVICE

    @subscribe_batch(SOURCE, THING, max_batch=50, concurrency=1, gather_seconds=GATHER)
    def handle_things(self, payloads: list[dict[str, Any]]) -> None:
        record_started(payloads)


def start_gathering(container_factory: Any, vhost_uri: str, service: type) -> None:
    started.clear()
    with Connection(vhost_uri) as conn:
        declare_subscription(conn, SOURCE, THING, SERVICE, "handle_things")
    container_factory(service, {"AMQP_URI": vhost_uri, "IDENTITY_SECRET": IDENTITY_SECRET}).start()


def test_a_trickle_is_gathered_into_batches_started_apart_and_a_lone_event_goes_at_once(
    container_factory: Any, vhost_uri: str
) -> None:
    start_gathering(container_factory, vhost_uri, GatheringBatcher)
    trickle = [event() for _ in range(30)]
    sent = time.monotonic()
    with confirming(vhost_uri) as conn:
        for payload in trickle:  # one every ~30 ms for ~1 s: without gathering, ~30 batches of one
            publish_event(vhost_uri, SOURCE, THING, payload, connection=conn)
            eventlet.sleep(0.03)
    took = time.monotonic() - sent  # ~0.9 s; longer where publishing is slow (a loaded machine)
    wait_until(lambda: len(effects) >= len(trickle), 10.0, "every event of the trickle to take effect")

    assert effects == [e["event_id"] for e in trickle]
    assert started[0] - sent < GATHER / 2, "the first event must not wait for company"
    gaps = [later - earlier for earlier, later in itertools.pairwise(started)]
    assert min(gaps) >= GATHER * 0.95, gaps
    # Batches GATHER apart over the time the trickle took, the last one at most GATHER after its last
    # event: no more than 3 + took / GATHER of them (6 at ~0.9 s), and the fullest holds at least
    # half of what one window of the trickle's pace brings (5 of 10 at ~0.9 s).
    sizes = [len(b) for b in batches]
    fullest = max(2, int(0.5 * len(trickle) * GATHER / took))
    assert len(batches) <= 3 + int(took / GATHER) and max(sizes) >= fullest, (round(took, 2), sizes)

    eventlet.sleep(GATHER * 2)  # a quiet spell
    lone = event()
    sent = time.monotonic()
    publish_event(vhost_uri, SOURCE, THING, lone)
    wait_until(lambda: effects[-1] == lone["event_id"], 5.0, "the lone event to take effect")
    assert started[-1] - sent < GATHER / 2, "an event after a quiet spell must not wait"


FULL_RATE = 20.0


class RateGatheringBatcher:
    """Batches ``GATHER`` seconds apart at ``FULL_RATE`` events a second, less at a slower rate."""

    name = SERVICE

    @subscribe_batch(
        SOURCE, THING, max_batch=50, concurrency=1, gather_seconds=GATHER, gather_full_rate=FULL_RATE
    )
    def handle_things(self, payloads: list[dict[str, Any]]) -> None:
        record_started(payloads)


def test_the_span_shrinks_with_the_rate_so_a_slow_trickle_waits_for_nothing(
    container_factory: Any, vhost_uri: str
) -> None:
    start_gathering(container_factory, vhost_uri, RateGatheringBatcher)

    slow = [event() for _ in range(8)]
    with confirming(vhost_uri) as conn:
        for payload in slow:  # ~5 a second: a quarter of the full rate, a span of ~0.075 s
            publish_event(vhost_uri, SOURCE, THING, payload, connection=conn)
            eventlet.sleep(0.2)
    wait_until(lambda: len(effects) >= len(slow), 10.0, "every event of the slow trickle to take effect")
    gaps = sorted(later - earlier for earlier, later in itertools.pairwise(started))
    assert gaps[len(gaps) // 2] < GATHER * 0.85, f"batches follow the events, not the full span: {gaps}"

    eventlet.sleep(1.5)  # the slow trickle leaves the rate's window
    batches.clear()
    fast = [event() for _ in range(40)]
    sent = time.monotonic()
    with confirming(vhost_uri) as conn:
        for payload in fast:  # 20 ms pauses: the full rate or more
            publish_event(vhost_uri, SOURCE, THING, payload, connection=conn)
            eventlet.sleep(0.02)
    took = time.monotonic() - sent
    wait_until(lambda: len(effects) >= len(slow) + len(fast), 10.0, "every event of the fast one")
    assert effects == [e["event_id"] for e in slow + fast]
    # 12 where the publisher keeps the full rate (~1 s); where publishing is slower (a loaded
    # machine) the span shrinks with the rate, and so does the gathering
    span = GATHER * min(1.0, len(fast) / took / FULL_RATE)
    most = max(12, 3 + int(took / span))
    assert len(batches) <= most, f"a fast trickle is gathered: {[len(b) for b in batches]} in {took:.2f} s"


def test_a_poison_event_is_retried_alone_and_parked_while_its_batch_mates_take_effect(
    container_factory: Any, vhost_uri: str
) -> None:
    events = [event() for _ in range(12)]
    poison = event(poison=True)
    events.insert(4, poison)
    backlog(vhost_uri, events)
    start(container_factory, vhost_uri)
    good = [e["event_id"] for e in events if e is not poison]

    with Connection(vhost_uri) as conn:
        wait_until(
            lambda: sorted(effects) == sorted(good) and dlq.depth(conn, f"{QUEUE}.dead") == 1,
            30.0,
            "the good events to take effect and the poison one to be parked",
        )
        eventlet.sleep(0.5)
        assert sorted(effects) == sorted(good), "each good event exactly once"
        assert [b for b in batches if b == [poison["event_id"]]], "the poison event was tried alone"
        [parked] = dlq.peek(conn, f"{QUEUE}.dead", 10)
        assert parked["headers"][ATTEMPT_HEADER] == 2
        assert f"ValueError: cannot handle {poison['event_id']}" in parked["headers"][ERROR_HEADER]
        assert dlq.depth(conn, QUEUE) == 0
        assert dlq.depth(conn, f"{QUEUE}.retry") == 0


def test_a_refused_event_is_parked_at_once_and_the_rest_go_on(container_factory: Any, vhost_uri: str) -> None:
    events = [event() for _ in range(5)]
    backlog(vhost_uri, [*events[:2], {"occurred_at": "2024-01-01T00:00:00+00:00"}, *events[2:]])
    start(container_factory, vhost_uri)

    with Connection(vhost_uri) as conn:
        wait_until(
            lambda: len(effects) == 5 and dlq.depth(conn, f"{QUEUE}.dead") == 1,
            20.0,
            "the events to take effect and the refused one to be parked",
        )
        [parked] = dlq.peek(conn, f"{QUEUE}.dead", 10)
        assert "no event_id" in parked["headers"][ERROR_HEADER]
    assert effects == [e["event_id"] for e in events]
    assert all(len(b) <= MAX_BATCH for b in batches)
