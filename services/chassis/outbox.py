"""Transactional outbox: an event is stored with the change it announces, then relayed.

A service never publishes from inside a request. It records the event with
:meth:`Outbox.record` in the same session that writes the change, so the change and
its event commit or roll back together. The payload is checked against the event's
schema in the producer's contract and stored as that schema dumps it, so a service
cannot publish a field its contract does not declare, nor omit a required one.

:class:`OutboxRelay` (a dependency every publishing service declares) publishes
pending rows to the service's event exchange with publisher confirms and marks them
sent; a crash between publish and mark only means the event is sent again, which
idempotent consumers ignore. Rows are claimed with a short lease renewed while they are
published, so several instances of a service can relay without stepping on each other, and
the rows of one that dies are published by another about a second later.

An event carries the trace of the request that recorded it (W3C ``traceparent``, see
:mod:`services.chassis.tracing`): it is kept in the stored payload under :data:`TRACE_KEY`, which
the relay takes out again and sends as the ``traceparent`` and ``nameko.traceparent`` headers.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import eventlet
from eventlet.event import Event
from eventlet.hubs import get_hub
from kombu import Exchange
from marshmallow import RAISE, Schema, ValidationError
from nameko.extensions import DependencyProvider
from prometheus_client.core import Metric
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    func,
    select,
    update,
)
from sqlalchemy.orm import Session

from services.chassis import config as cfg
from services.chassis import metrics, tracing
from services.chassis.clock import SYSTEM_CLOCK, Clock, aware
from services.chassis.db import OUTBOX_WRITTEN, Database, SessionFactory, wake_after_commit
from services.chassis.loop import WakeableLoop
from services.chassis.prepared import Prepared
from services.chassis.publishing import BatchPublisher, Outgoing
from services.chassis.roundtrip import Roundtrip, compile_roundtrip
from services.chassis.wire import EVENT_ID_HEADER, PRODUCER_HEADER, event_exchange_name

log = logging.getLogger(__name__)

LEASE_SECONDS = 1.0
"""How long a relay's claim on a batch lasts unless renewed: short, because rows claimed by a relay
that died wait this long for another."""
RENEW_SECONDS = LEASE_SECONDS / 3
LEASE_MARGIN = 0.05
BATCH = 200
BACKOFF_MIN, BACKOFF_MAX = 0.2, 1.0
"""Pause after a failed pass (broker or database away), doubling, bounded so that the relay is
publishing again within a second of their return."""
WARN_EVERY = 10.0
TRACE_KEY = "_traceparent"
"""The stored payload's key for the recording request's trace; no event schema has a field so named,
and the relay removes it before publishing."""


def event_exchange(service_name: str, *, passive: bool = False) -> Exchange:
    """The topic exchange a service's events are published to (nameko's naming); ``passive`` for a
    binding that only asserts it exists (a subscriber may not declare another service's exchange)."""
    return Exchange(
        event_exchange_name(service_name), type="topic", durable=True, auto_delete=False, passive=passive
    )


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
        self._insert = Prepared(self.table.insert())
        self.events = dict(events)
        self._schemas: dict[str, Schema] = {}
        self._roundtrips: dict[str, Roundtrip] = {}

    def _schema(self, event_type: str) -> Schema:
        schema = self._schemas.get(event_type)
        if schema is None:
            if event_type not in self.events:
                raise ContractViolation(f"{event_type!r} is not an event of this service's contract")
            schema = self._schemas[event_type] = self.events[event_type](unknown=RAISE)
            self._roundtrips[event_type] = compile_roundtrip(schema)
        return schema

    def encode(self, event_type: str, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` as the contract's schema dumps it, after the schema accepted it (through
        :mod:`services.chassis.roundtrip` where that is exact, else marshmallow itself)."""
        schema = self._schema(event_type)
        fast = self._roundtrips[event_type](body)
        if fast is not None:
            return fast
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
        wake_after_commit(session, OUTBOX_WRITTEN)
        self._insert.run(
            session,
            {
                "event_id": event_id,
                "event_type": event_type,
                "payload": _stored(body, tracing.current_traceparent()),
                "created_at": now,
            },
        )
        return event_id

    def record_many(
        self,
        session: Session,
        events: Iterable[tuple[str, Mapping[str, Any]]],
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> list[str]:
        """:meth:`record` for many ``(event_type, payload)`` at once (one statement); their event ids."""
        now = clock.now()
        traceparent = tracing.current_traceparent()
        rows: list[dict[str, Any]] = []
        for event_type, payload in events:
            event_id = str(uuid.uuid4())
            body = self.encode(event_type, {"event_id": event_id, "occurred_at": now.isoformat(), **payload})
            rows.append(
                {
                    "event_id": event_id,
                    "event_type": event_type,
                    "payload": _stored(body, traceparent),
                    "created_at": now,
                }
            )
        if rows:
            wake_after_commit(session, OUTBOX_WRITTEN)
            self._insert.many(session, rows)
        return [str(row["event_id"]) for row in rows]


def _stored(body: dict[str, Any], traceparent: str | None) -> str:
    """The payload column's text: the event's body, and the trace that recorded it if any."""
    if traceparent:
        body = {**body, TRACE_KEY: traceparent}
    return json.dumps(body, separators=(",", ":"))


class OutboxRelay(DependencyProvider):
    """Publishes the service's outbox in a :class:`~services.chassis.loop.WakeableLoop` (``loop``):
    at start, after each committed transaction, else every ``poll_seconds``.

    ``database_attr`` names the service attribute holding the :class:`Database` the
    service writes with (nameko binds a copy of each dependency per container, so
    the relay looks the bound one up by name).

    Several instances of a service may relay one outbox. A relay claims a batch of rows with a
    short lease (``LEASE_SECONDS``) and, while it publishes them, renews the lease every
    ``RENEW_SECONDS`` from a green thread of its own, so a slow publish keeps its rows while a
    relay that died (a killed process) lets them go within a second. When it finds rows leased
    by another relay it wakes again the moment their lease ends, so a dead relay's rows are
    published by a survivor about ``LEASE_SECONDS`` after its death, not at the next poll.
    """

    def __init__(self, database_attr: str, outbox: Outbox, poll_seconds: float = 1.0) -> None:
        self.database_attr = database_attr
        self.outbox = outbox.table
        self.poll_seconds = poll_seconds
        self.loop = WakeableLoop(
            "outbox relay",
            self._pass,
            poll_seconds=poll_seconds,
            backoff=(BACKOFF_MIN, BACKOFF_MAX),
            warn_every=WARN_EVERY,
            log=log,
        )

    def setup(self) -> None:
        self._foreign_lease_end: dt.datetime | None = None
        self.service = self.container.service_name
        self.exchange = event_exchange(self.service)
        self._statements = _RelayStatements(self.outbox)
        self.publisher = BatchPublisher(cfg.required(self.container.config, cfg.AMQP_URI), self.exchange)

    def start(self) -> None:
        factory = self._factory()
        factory.on_commit(OUTBOX_WRITTEN, self.wake)
        self.loop.start(self.container.spawn_managed_thread)

    def stop(self) -> None:
        self.loop.stop()
        self.publisher.close()

    def kill(self) -> None:
        self.loop.kill()
        self.publisher.close()

    def wake(self) -> None:
        """Relay soon (after a commit that recorded events)."""
        self.loop.wake()

    def _factory(self) -> SessionFactory:
        for dependency in self.container.dependencies:
            if isinstance(dependency, Database) and dependency.attr_name == self.database_attr:
                assert dependency.factory is not None, "the Database dependency must be set up first"
                return dependency.factory
        raise RuntimeError(f"no Database dependency named {self.database_attr!r}")

    def _pass(self) -> float:
        """Relay every batch there is; then the wait until the next pass.

        While commits keep coming (a wake arrived during a batch's publish), the batch's marking
        rides in the next batch's claiming transaction: one transaction a batch instead of two.
        The pass's last batch is marked on its own before the pass returns, and so is a batch
        whose publish raised (its rows released)."""
        log.debug("outbox relay wakes")
        unsettled: tuple[list[int], list[int]] | None = None
        try:
            while self.loop.running:
                self.loop.take_wake()  # the claim below sees every commit made until now
                rows = self._claim(unsettled)
                unsettled = None
                if not rows:
                    break
                ids = [row.id for row in rows]
                unsettled = (ids, [])
                unsettled = (ids, self._publish(rows))
                if len(rows) < BATCH and not self.loop.woken:
                    break
        finally:
            if unsettled is not None:
                self._settle(*unsettled)
        return self._until_lease_ends(self._foreign_lease_end)

    def _until_lease_ends(self, ends: dt.datetime | None) -> float:
        """Seconds until the next poll: the poll period, or less if another relay's lease on an
        unpublished row (``ends``, as the last claim found it) ends sooner (if that relay died,
        its rows are ours then)."""
        if ends is None:
            return self.poll_seconds
        remaining = (aware(ends) - SYSTEM_CLOCK.now()).total_seconds()
        return min(self.poll_seconds, max(LEASE_MARGIN, remaining + LEASE_MARGIN))

    def relay_once(self) -> int:
        """Claim, publish and mark one batch; returns how many rows were published (only the rows
        the broker confirmed are marked published, the rest are released at once)."""
        rows = self._claim()
        if not rows:
            return 0
        ids = [row.id for row in rows]
        published: list[int] = []
        try:
            published = self._publish(rows)
        finally:
            self._settle(ids, published)
        return len(published)

    def _publish(self, rows: list[Any]) -> list[int]:
        """Publish claimed ``rows`` with one wait for the broker's confirmations
        (:mod:`services.chassis.publishing`), renewing their lease if that outlasts
        ``RENEW_SECONDS``; the ids of the rows the broker confirmed."""
        ids = [row.id for row in rows]
        log.debug("outbox relay claimed %d rows", len(ids))
        published: list[int] = []
        done = Event()
        renewers: list[Any] = []  # a renewer starts only if the publish outlasts RENEW_SECONDS
        timer = get_hub().schedule_call_global(
            RENEW_SECONDS, lambda: renewers.append(eventlet.spawn(self._renew, ids, done))
        )
        try:
            messages = [self._message(row) for row in rows]
            for position in self.publisher.publish(messages):
                published.append(rows[position].id)
                metrics.EVENTS_PUBLISHED.labels(self.service, rows[position].event_type).inc()
            log.debug("outbox relay published %d of %d rows", len(published), len(rows))
        finally:
            done.send(True)
            timer.cancel()
            for renewer in renewers:
                renewer.wait()
        return published

    def _message(self, row: Any) -> Outgoing:
        body = json.loads(row.payload)
        headers = {EVENT_ID_HEADER: body["event_id"], PRODUCER_HEADER: self.service}
        if traceparent := body.pop(TRACE_KEY, None):
            headers[tracing.TRACEPARENT] = headers[f"nameko.{tracing.TRACEPARENT}"] = traceparent
        return Outgoing(row.event_type, body, headers)

    def _claim(self, unsettled: tuple[list[int], list[int]] | None = None) -> list[Any]:
        """Lease a batch of unpublished rows; their ``id``, ``event_type`` and ``payload`` in id order
        (read in the claiming transaction: a wake costs no separate read). ``unsettled``, a batch
        published before, ``(ids, published ids)``, is marked first in the same transaction. A
        claim short of a whole batch also notes when the earliest lease another relay holds ends
        (:attr:`_foreign_lease_end`), in the same transaction, for the wait after the pass."""
        now = SYSTEM_CLOCK.now()
        with self._factory().transaction() as session:
            if unsettled is not None:
                self._settle_in(session, *unsettled)
            rows = self._statements.claim.run(session, {"now": now}).all()
            if len(rows) < BATCH:
                ends = self._statements.foreign_lease_end.run(session, {"now": now})
                self._foreign_lease_end = ends.scalar()
            if rows:
                self._statements.lease.run(
                    session,
                    {"ids": [row.id for row in rows], "until": now + dt.timedelta(seconds=LEASE_SECONDS)},
                )
        return rows

    def _renew(self, ids: list[int], done: Event) -> None:
        """Extend the lease on ``ids`` now and every RENEW_SECONDS until ``done`` is sent (started
        RENEW_SECONDS into a publish that has not finished by then)."""
        while not done.ready():
            try:
                with self._factory().transaction() as session:
                    session.execute(
                        update(self.outbox)
                        .where(self.outbox.c.id.in_(ids))
                        .where(self.outbox.c.published_at.is_(None))
                        .values(claimed_until=SYSTEM_CLOCK.now() + dt.timedelta(seconds=LEASE_SECONDS))
                    )
            except Exception as exc:  # the lease lapses; at worst another relay sends them again
                log.warning("outbox relay could not renew its lease: %s", exc)
                return
            with eventlet.Timeout(RENEW_SECONDS, False):
                done.wait()

    def _settle(self, ids: list[int], published: list[int]) -> None:
        """Mark what went out; release the rest at once, so the next attempt need not wait out the
        lease."""
        with self._factory().transaction() as session:
            self._settle_in(session, ids, published)

    def _settle_in(self, session: Session, ids: list[int], published: list[int]) -> None:
        sent = set(published)
        unsent = [i for i in ids if i not in sent]
        if published:
            self._statements.published.run(session, {"ids": published, "at": SYSTEM_CLOCK.now()})
        if unsent:
            self._statements.released.run(session, {"ids": unsent})

    def metrics_probe(self) -> Iterator[Metric]:
        """The backlog (rows not yet published) and the age of the oldest, read when scraped."""
        with self._factory().read() as session:
            count, oldest = session.execute(
                select(func.count(), func.min(self.outbox.c.created_at)).where(
                    self.outbox.c.published_at.is_(None)
                )
            ).one()
        age = (SYSTEM_CLOCK.now() - aware(oldest)).total_seconds() if oldest is not None else 0.0
        labels = {"service": self.service}
        yield metrics.gauge("helpdesk_outbox_backlog", "Outbox rows not yet published.", labels, count)
        yield metrics.gauge(
            "helpdesk_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row.", labels, age
        )

    def get_dependency(self, worker_ctx: Any) -> OutboxRelay:
        return self


class _RelayStatements:
    """The statements a relay runs on every pass, built once (see ``_inbox_statements`` in
    :mod:`services.chassis.events` for why)."""

    def __init__(self, outbox: Table) -> None:
        c = outbox.c
        unpublished = c.published_at.is_(None)
        ids = c.id.in_(bindparam("ids", expanding=True))
        self.claim = Prepared(
            select(c.id, c.event_type, c.payload)
            .where(unpublished)
            .where(c.claimed_until.is_(None) | (c.claimed_until < bindparam("now")))
            .order_by(c.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
        self.lease = Prepared(update(outbox).where(ids).values(claimed_until=bindparam("until")))
        self.published = Prepared(
            update(outbox).where(ids).values(published_at=bindparam("at"), claimed_until=None)
        )
        self.released = Prepared(update(outbox).where(ids).values(claimed_until=None))
        self.foreign_lease_end = Prepared(
            select(func.min(c.claimed_until)).where(unpublished).where(c.claimed_until >= bindparam("now"))
        )
