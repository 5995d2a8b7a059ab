"""The transactional outbox over a real RabbitMQ and a real database (SQLite or PostgreSQL).

Proves that

* a change and the event announcing it commit together, and the relay publishes the event (with
  the event id recorded in the outbox) and marks it sent;
* when the transaction rolls back, neither the change nor its event exists, and nothing is
  published;
* a duplicate publication (what a relay crash between publishing and marking leaves behind once
  the lease ends) is delivered again and changes nothing, because the consumer is idempotent;
* events recorded while the broker is down (a private node, really stopped) are kept and published
  once it is back, without restarting the producer;
* rows claimed by a relay that died (its claims left as a killed process leaves them) are
  published by another instance within 2 s, while a relay that is merely slow keeps its claim
  (renewed while it publishes), so nothing is sent twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import eventlet
import pytest
from eventlet.event import Event
from marshmallow import fields
from nameko.containers import ServiceContainer
from nameko.testing.services import dummy, entrypoint_hook, entrypoint_waiter
from nameko.testing.utils import get_extension
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, func, select, update

from services.chassis.db import Database, make_engine
from services.chassis.events import already_processed, define_inbox, mark_processed, subscribe
from services.chassis.outbox import LEASE_SECONDS, Outbox, OutboxRelay
from services.chassis.schema import EventPayload
from tests.conftest import IDENTITY_SECRET, PrivateRabbit

pytestmark = [pytest.mark.broker, pytest.mark.db]

PRODUCER = "outbox_producer"
ITEM_CREATED = "item_created"
HANDLER = "handle_item_created"

producer_metadata = MetaData()
items = Table(
    "items",
    producer_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("label", String(100), nullable=False, unique=True),
)


class ItemCreated(EventPayload):
    label = fields.String(required=True)


outbox = Outbox(producer_metadata, {ITEM_CREATED: ItemCreated})

consumer_metadata = MetaData()
applied = Table(
    "applied",
    consumer_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
    Column("label", String(100), nullable=False),
)
inbox = define_inbox(consumer_metadata)

DELIVERIES: list[dict[str, Any]] = []
"""Every delivery the consumer's handler received, duplicates included."""


class RolledBack(Exception):
    pass


class OutboxProducer:
    name = PRODUCER
    db = Database()
    relay = OutboxRelay("db", outbox)

    @dummy
    def create(self, label: str, fail: bool = False) -> str:
        with self.db.transaction() as session:
            session.execute(items.insert().values(label=label))
            event_id = outbox.record(session, ITEM_CREATED, {"label": label})
            if fail:
                raise RolledBack(label)
        return event_id


class OutboxConsumer:
    name = "outbox_consumer"
    db = Database()

    @subscribe(PRODUCER, ITEM_CREATED)
    def handle_item_created(self, payload: dict[str, Any]) -> None:
        DELIVERIES.append(payload)
        with self.db.transaction() as session:
            if already_processed(session, inbox, payload["event_id"], HANDLER):
                return
            session.execute(applied.insert().values(event_id=payload["event_id"], label=payload["label"]))
            mark_processed(session, inbox, payload["event_id"], HANDLER)


class World:
    """The producer and consumer containers with their databases, on one broker."""

    def __init__(self, container_factory: Any, scratch_db: Callable[[MetaData], str], amqp_uri: str) -> None:
        self.container_factory = container_factory
        self.amqp_uri = amqp_uri
        self.producer_url = scratch_db(producer_metadata)
        self.consumer_url = scratch_db(consumer_metadata)
        self.producer_db: Engine = make_engine(self.producer_url)
        self.consumer_db: Engine = make_engine(self.consumer_url)
        self.producer: ServiceContainer | None = None
        self.consumer: ServiceContainer | None = None

    def _start(self, cls: type, url: str) -> ServiceContainer:
        config = {"AMQP_URI": self.amqp_uri, "DB_URL": url, "IDENTITY_SECRET": IDENTITY_SECRET}
        container: ServiceContainer = self.container_factory(cls, config)
        container.start()
        return container

    def start_consumer(self) -> ServiceContainer:
        self.consumer = self._start(OutboxConsumer, self.consumer_url)
        return self.consumer

    def start_producer(self) -> ServiceContainer:
        self.producer = self._start(OutboxProducer, self.producer_url)
        return self.producer

    def create(self, label: str, fail: bool = False) -> str:
        assert self.producer is not None
        with entrypoint_hook(self.producer, "create") as hook:
            return hook(label, fail)

    def outbox_rows(self) -> list[Any]:
        with self.producer_db.connect() as conn:
            return list(conn.execute(select(outbox.table).order_by(outbox.table.c.id)).all())

    def labels(self) -> list[str]:
        with self.producer_db.connect() as conn:
            return list(conn.scalars(select(items.c.label).order_by(items.c.id)).all())

    def applied_labels(self) -> list[str]:
        with self.consumer_db.connect() as conn:
            return list(conn.scalars(select(applied.c.label).order_by(applied.c.id)).all())

    def inbox_count(self) -> int:
        with self.consumer_db.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(inbox)) or 0)

    def close(self) -> None:
        self.producer_db.dispose()
        self.consumer_db.dispose()


@pytest.fixture
def world(container_factory: Any, scratch_db: Callable[[MetaData], str], vhost_uri: str) -> Any:
    DELIVERIES.clear()
    w = World(container_factory, scratch_db, vhost_uri)
    yield w
    w.close()


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll until ``predicate()``; returns the seconds it took."""
    began = time.monotonic()
    while not predicate():
        if time.monotonic() - began > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        eventlet.sleep(0.05)
    return time.monotonic() - began


def test_change_and_event_commit_together_and_the_event_is_published(world: World) -> None:
    consumer = world.start_consumer()  # its queue exists before anything is published
    world.start_producer()
    with entrypoint_waiter(consumer, HANDLER, timeout=15):
        event_id = world.create("alpha")

    assert world.labels() == ["alpha"]
    assert [d["label"] for d in DELIVERIES] == ["alpha"]
    assert DELIVERIES[0]["event_id"] == event_id
    assert "occurred_at" in DELIVERIES[0]
    wait_until(lambda: world.outbox_rows()[0].published_at is not None, 5.0, "the row marked sent")
    assert [(r.event_id, r.event_type) for r in world.outbox_rows()] == [(event_id, ITEM_CREATED)]
    assert world.applied_labels() == ["alpha"]


def test_rolled_back_change_publishes_nothing(world: World) -> None:
    consumer = world.start_consumer()
    world.start_producer()
    with pytest.raises(RolledBack):
        world.create("beta", fail=True)
    assert world.labels() == []
    assert world.outbox_rows() == []

    # Events are relayed in order: once a later event has arrived, an earlier one would have too.
    with entrypoint_waiter(consumer, HANDLER, timeout=15):
        world.create("gamma")
    eventlet.sleep(1.5)  # a full relay poll period more
    assert [d["label"] for d in DELIVERIES] == ["gamma"]
    assert world.labels() == ["gamma"]
    assert [r.event_type for r in world.outbox_rows()] == [ITEM_CREATED]


def test_duplicate_publication_after_a_relay_crash_changes_nothing(world: World) -> None:
    consumer = world.start_consumer()
    producer = world.start_producer()
    with entrypoint_waiter(consumer, HANDLER, timeout=15):
        event_id = world.create("delta")
    wait_until(lambda: world.outbox_rows()[0].published_at is not None, 5.0, "the row marked sent")

    # What a crash between publish and mark leaves, once the lease has run out: a sent row that is
    # not marked sent. The relay publishes it again.
    with world.producer_db.begin() as conn:
        conn.execute(update(outbox.table).values(published_at=None, claimed_until=None))
    with entrypoint_waiter(consumer, HANDLER, timeout=15):
        get_extension(producer, OutboxRelay).wake()

    assert [d["event_id"] for d in DELIVERIES] == [event_id, event_id]
    assert world.applied_labels() == ["delta"]
    assert world.inbox_count() == 1


def test_events_recorded_while_the_broker_is_down_are_published_when_it_returns(
    container_factory: Any, scratch_db: Callable[[MetaData], str], private_rabbit: PrivateRabbit
) -> None:
    DELIVERIES.clear()
    w = World(container_factory, scratch_db, private_rabbit.uri)
    try:
        consumer = w.start_consumer()
        w.start_producer()
        with entrypoint_waiter(consumer, HANDLER, timeout=15):
            w.create("before")
        consumer.stop()  # a consumer does not outlive a long outage; it is started again below

        private_rabbit.stop()
        during = [f"during-{n}" for n in range(3)]
        for label in during:
            w.create(label)  # the change commits without the broker
        eventlet.sleep(2.0)  # the relay tries, fails and keeps the rows
        assert w.labels() == ["before", *during]
        assert [r.published_at is None for r in w.outbox_rows()] == [False, True, True, True]

        private_rabbit.start()
        returned = time.monotonic()
        w.start_consumer()
        took = wait_until(
            # Handlers run concurrently, so the consumer may apply them in any order; and the
            # relay marks a row published only after the broker's confirm, which can come after
            # the consumer has already applied that event.
            lambda: (
                sorted(w.applied_labels()) == sorted(["before", *during])
                and all(r.published_at is not None for r in w.outbox_rows())
            ),
            60.0,
            "the events recorded during the outage, applied and marked published",
        )
        assert sorted(w.applied_labels()) == sorted(["before", *during])
        # Rows the relay failed to publish must not stay leased (30 s) once the broker is back.
        assert time.monotonic() - returned < 15.0, f"published {took:.1f}s after the broker returned"
    finally:
        for container in (w.consumer, w.producer):
            if container is not None:
                container.kill()  # before the node stops, or its consumer retries for minutes
        w.close()


def _stall(relay: OutboxRelay, seconds: float | None) -> None:
    """Make ``relay``'s publishes wait ``seconds`` first (None: for ever)."""
    original = relay.publisher.publish

    def stalled(*args: Any, **kwargs: Any) -> Any:
        if seconds is None:
            Event().wait()
        eventlet.sleep(seconds)
        return original(*args, **kwargs)

    setattr(relay.publisher, "publish", stalled)  # noqa: B010 - an instance attribute shadows the method


def test_rows_claimed_by_a_relay_that_died_are_published_by_another_within_two_seconds(
    world: World,
) -> None:
    world.start_consumer()
    dying = world.start_producer()
    relay = get_extension(dying, OutboxRelay)
    _stall(relay, None)
    # a killed process runs no clean-up: its claims stay as they were when it died
    relay._settle = lambda ids, published: None
    labels = [f"orphan-{n}" for n in range(3)]
    for label in labels:
        world.create(label)
    # the relay claimed the first row at once and hangs publishing it; the others wait unclaimed
    wait_until(lambda: world.outbox_rows()[0].claimed_until is not None, 5.0, "the claim")
    dying.kill()
    died = time.monotonic()

    world.start_producer()  # the survivor (another instance, or the same service restarted)
    wait_until(lambda: sorted(world.applied_labels()) == labels, 30.0, "the orphaned events")
    took = time.monotonic() - died
    print(f"\noutbox: rows claimed by a relay that died published {took:.2f}s after its death")
    assert took <= 2.0, f"the survivor published the dead relay's rows only {took:.2f}s after it died"
    assert len(DELIVERIES) == len(labels)


def test_a_slow_relay_keeps_its_claim_while_it_lives_so_nothing_is_sent_twice(world: World) -> None:
    consumer = world.start_consumer()
    slow = world.start_producer()
    world.start_producer()  # a second instance, polling the same outbox
    _stall(get_extension(slow, OutboxRelay), 3 * LEASE_SECONDS)
    with entrypoint_waiter(consumer, HANDLER, timeout=15):
        world.create("slow-but-alive")
    eventlet.sleep(1.5)  # time for a second delivery, had the other instance taken the row over
    assert [d["label"] for d in DELIVERIES] == ["slow-but-alive"]
    assert world.outbox_rows()[0].published_at is not None
