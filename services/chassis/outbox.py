"""Transactional outbox: an event is stored with the change it announces, then relayed.

A service never publishes from inside a request. It records the event with
:meth:`Outbox.record` in the same session that writes the change, so the change and
its event commit or roll back together. The payload is checked against the event's
schema in the producer's contract and stored as that schema dumps it, so a service
cannot publish a field its contract does not declare, nor omit a required one.

:class:`OutboxRelay` (a dependency every publishing service declares) publishes
pending rows to the service's event exchange with publisher confirms and marks them
sent; a crash between publish and mark only means the event is sent again, which
idempotent consumers ignore. Rows are claimed with a lease, so several instances of a
service can relay without stepping on each other.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import eventlet
from eventlet.event import Event
from kombu import Exchange
from marshmallow import RAISE, Schema, ValidationError
from nameko.amqp.publish import Publisher
from nameko.extensions import DependencyProvider
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
    update,
)
from sqlalchemy.orm import Session

from services.chassis import config as cfg
from services.chassis.clock import SYSTEM_CLOCK, Clock
from services.chassis.db import OUTBOX_WRITTEN, Database, SessionFactory

log = logging.getLogger(__name__)

LEASE_SECONDS = 10
BATCH = 200


def event_exchange(service_name: str) -> Exchange:
    """The topic exchange a service's events are published to (nameko's naming)."""
    return Exchange(f"{service_name}.events", type="topic", durable=True, auto_delete=False)


def define_outbox(metadata: MetaData) -> Table:
    """Add the ``outbox`` table to a service's metadata (its migrations create it)."""
    return Table(
        "outbox",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("event_type", String(100), nullable=False),
        Column("payload", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("claimed_until", DateTime(timezone=True), nullable=True),
        Column("published_at", DateTime(timezone=True), nullable=True, index=True),
    )


class ContractViolation(RuntimeError):
    """A service tried to record an event its own contract does not describe (a bug, never input)."""


class Outbox:
    """A service's outbox table and the contract of every event the service may record.

    ``events`` maps each event type to its payload schema (the producer's
    ``contract.EVENT_SCHEMAS``); recording a type that is not there, or a payload the
    schema refuses, raises :class:`ContractViolation` and so rolls the change back.
    """

    def __init__(self, metadata: MetaData, events: Mapping[str, type[Schema]]) -> None:
        self.table = define_outbox(metadata)
        self.events = dict(events)
        self._schemas: dict[str, Schema] = {}

    def _schema(self, event_type: str) -> Schema:
        schema = self._schemas.get(event_type)
        if schema is None:
            if event_type not in self.events:
                raise ContractViolation(f"{event_type!r} is not an event of this service's contract")
            schema = self._schemas[event_type] = self.events[event_type](unknown=RAISE)
        return schema

    def encode(self, event_type: str, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` as the contract's schema dumps it, after the schema accepted it."""
        schema = self._schema(event_type)
        try:
            loaded = schema.load(body)
        except ValidationError as exc:
            raise ContractViolation(f"{event_type} payload breaks the contract: {exc.messages}") from exc
        return schema.dump(loaded)

    def record(
        self,
        session: Session,
        event_type: str,
        payload: Mapping[str, Any],
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> str:
        """Store ``event_type`` with ``payload`` in the caller's transaction; returns its event id."""
        event_id = str(uuid.uuid4())
        now = clock.now()
        body = self.encode(event_type, {"event_id": event_id, "occurred_at": now.isoformat(), **payload})
        session.info[OUTBOX_WRITTEN] = True
        session.execute(
            self.table.insert().values(
                event_id=event_id,
                event_type=event_type,
                payload=json.dumps(body, separators=(",", ":")),
                created_at=now,
            )
        )
        return event_id

    def record_many(
        self,
        session: Session,
        events: Iterable[tuple[str, Mapping[str, Any]]],
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> list[str]:
        """:meth:`record` for many events in one statement (a bulk job's batch); returns their ids."""
        now = clock.now()
        rows: list[dict[str, Any]] = []
        for event_type, payload in events:
            event_id = str(uuid.uuid4())
            body = self.encode(event_type, {"event_id": event_id, "occurred_at": now.isoformat(), **payload})
            rows.append(
                {
                    "event_id": event_id,
                    "event_type": event_type,
                    "payload": json.dumps(body, separators=(",", ":")),
                    "created_at": now,
                }
            )
        if rows:
            session.info[OUTBOX_WRITTEN] = True
            session.execute(self.table.insert(), rows)
        return [str(row["event_id"]) for row in rows]


class OutboxRelay(DependencyProvider):
    """Publishes the service's outbox; woken after each committed transaction, else every second.

    ``database_attr`` names the service attribute holding the :class:`Database` the
    service writes with (nameko binds a copy of each dependency per container, so
    the relay looks the bound one up by name).
    """

    def __init__(self, database_attr: str, outbox: Outbox, poll_seconds: float = 1.0) -> None:
        self.database_attr = database_attr
        self.outbox = outbox.table
        self.poll_seconds = poll_seconds
        self._wake = Event()
        self._running = False
        self._gt: Any = None

    def setup(self) -> None:
        self.exchange = event_exchange(self.container.service_name)
        self.publisher = Publisher(
            cfg.required(self.container.config, cfg.AMQP_URI),
            use_confirms=True,
            declare=[self.exchange],
            retry=True,
            retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.5},
        )

    def start(self) -> None:
        factory = self._factory()
        factory.after_commit.append(self.wake)
        self._running = True
        self._gt = self.container.spawn_managed_thread(self._run)

    def stop(self) -> None:
        self._running = False
        self.wake()
        if self._gt is not None:
            self._gt.kill()

    kill = stop

    def wake(self) -> None:
        if not self._wake.ready():
            self._wake.send(True)

    def _factory(self) -> SessionFactory:
        for dependency in self.container.dependencies:
            if isinstance(dependency, Database) and dependency.attr_name == self.database_attr:
                assert dependency.factory is not None, "the Database dependency must be set up first"
                return dependency.factory
        raise RuntimeError(f"no Database dependency named {self.database_attr!r}")

    def _run(self) -> None:
        backoff = 0.5
        while self._running:
            with eventlet.Timeout(self.poll_seconds, False):
                self._wake.wait()
            self._wake = Event()
            try:
                log.debug("outbox relay wakes")
                while self._running and self.relay_once() == BATCH:
                    pass
                backoff = 0.5
            except Exception as exc:  # broker or database trouble: keep the rows, try later
                log.warning("outbox relay paused: %s", exc)
                eventlet.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def relay_once(self) -> int:
        """Claim, publish and mark one batch; returns how many rows were published."""
        factory = self._factory()
        now = SYSTEM_CLOCK.now()
        with factory.transaction() as session:
            ids = session.scalars(
                select(self.outbox.c.id)
                .where(self.outbox.c.published_at.is_(None))
                .where((self.outbox.c.claimed_until.is_(None)) | (self.outbox.c.claimed_until < now))
                .order_by(self.outbox.c.id)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            ).all()
            if not ids:
                return 0
            session.execute(
                update(self.outbox)
                .where(self.outbox.c.id.in_(ids))
                .values(claimed_until=now + dt.timedelta(seconds=LEASE_SECONDS))
            )
        log.debug("outbox relay claimed %d rows", len(ids))
        with factory.read() as session:
            rows = session.execute(
                select(self.outbox.c.id, self.outbox.c.event_type, self.outbox.c.payload)
                .where(self.outbox.c.id.in_(ids))
                .order_by(self.outbox.c.id)
            ).all()
        published: list[int] = []
        try:
            for row in rows:
                body = json.loads(row.payload)
                self.publisher.publish(
                    body,
                    exchange=self.exchange,
                    routing_key=row.event_type,
                    extra_headers={"nameko.event_id": body["event_id"]},
                )
                published.append(row.id)
                log.debug("outbox relay published %s", row.id)
        finally:
            # mark what went out; release the rest at once so the next attempt need not wait out the lease
            done = set(published)
            unsent = [i for i in ids if i not in done]
            with factory.transaction() as session:
                if published:
                    session.execute(
                        update(self.outbox)
                        .where(self.outbox.c.id.in_(published))
                        .values(published_at=SYSTEM_CLOCK.now())
                    )
                if unsent:
                    session.execute(
                        update(self.outbox).where(self.outbox.c.id.in_(unsent)).values(claimed_until=None)
                    )
        return len(published)

    def get_dependency(self, worker_ctx: Any) -> OutboxRelay:
        return self
