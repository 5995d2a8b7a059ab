"""Subscribing to another service's events without losing or doubling any.

:func:`subscribe` replaces ``nameko.events.event_handler``. Its queue is durable
and is declared (with its retry and dead-letter companions) by the deploy step
before any service starts, so an event published while a subscriber is down waits
for it. A handler that raises is not acked away: the message is republished to
``<queue>.retry`` (a TTL queue that dead-letters back into ``<queue>``) with
growing back-off, and after ``max_attempts`` it is parked in ``<queue>.dead`` with
the error, where ``python -m deploy.dlq`` lists and replays it.

Handlers must be idempotent: every event carries ``event_id``; a handler stores it
with its effect through :func:`already_processed` / :func:`mark_processed`, in the
same transaction, so a redelivered event changes nothing.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from kombu import Connection, Exchange, Queue
from nameko.amqp.publish import Publisher
from nameko.events import EventHandler
from sqlalchemy import Column, DateTime, MetaData, String, Table, select
from sqlalchemy.orm import Session

from services.chassis import config as cfg
from services.chassis.clock import SYSTEM_CLOCK, Clock
from services.chassis.outbox import event_exchange

log = logging.getLogger(__name__)

ATTEMPT_HEADER = "x-helpdesk-attempt"
ERROR_HEADER = "x-helpdesk-error"
DEFAULT_MAX_ATTEMPTS = 5
BASE_BACKOFF_MS = 200


def queue_name(source: str, event_type: str, service: str, method: str) -> str:
    """nameko's SERVICE_POOL queue name, so nameko tooling recognises our queues."""
    return f"evt-{source}-{event_type}--{service}.{method}"


def subscription_queues(
    source: str, event_type: str, service: str, method: str
) -> tuple[Queue, Queue, Queue]:
    """The main, retry and dead-letter queues of one subscription (declared identically everywhere)."""
    name = queue_name(source, event_type, service, method)
    main = Queue(
        name, exchange=event_exchange(source), routing_key=event_type, durable=True, auto_delete=False
    )
    retry = Queue(
        f"{name}.retry",
        durable=True,
        queue_arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": name},
    )
    dead = Queue(f"{name}.dead", durable=True)
    return main, retry, dead


def declare_subscription(
    connection: Connection, source: str, event_type: str, service: str, method: str
) -> None:
    channel = connection.channel()
    try:
        event_exchange(source)(channel).declare()
        for queue in subscription_queues(source, event_type, service, method):
            queue(channel).declare()
    finally:
        channel.close()


class Subscription(EventHandler):
    """A pooled event handler with bounded retries and a dead-letter queue."""

    def __init__(
        self, source_service: str, event_type: str, max_attempts: int = DEFAULT_MAX_ATTEMPTS, **kwargs: Any
    ) -> None:
        self.max_attempts = max_attempts
        super().__init__(source_service, event_type, **kwargs)

    def setup(self) -> None:
        super().setup()
        amqp_uri = cfg.required(self.container.config, cfg.AMQP_URI)
        main, self.retry_queue, self.dead_queue = subscription_queues(
            self.source_service, self.event_type, self.container.service_name, self.method_name
        )
        self.queue = main
        with Connection(amqp_uri) as conn:
            declare_subscription(
                conn, self.source_service, self.event_type, self.container.service_name, self.method_name
            )
        self.publisher = Publisher(amqp_uri, use_confirms=True)

    def handle_message_processed(self, message: Any, result: Any = None, exc_info: Any = None) -> None:
        if exc_info is None:
            self.queue_consumer.ack_message(message)
            return
        try:
            self._park(message, exc_info)
        except Exception:
            log.exception("could not park failed event; returning it to its queue")
            self.queue_consumer.requeue_message(message)
            return
        self.queue_consumer.ack_message(message)

    def _park(self, message: Any, exc_info: Any) -> None:
        headers = dict(message.headers or {})
        attempt = int(headers.get(ATTEMPT_HEADER, 1))
        error = "".join(traceback.format_exception_only(exc_info[0], exc_info[1])).strip()[:2000]
        if attempt < self.max_attempts:
            headers[ATTEMPT_HEADER] = attempt + 1
            target, expiration = self.retry_queue.name, BASE_BACKOFF_MS * 2 ** (attempt - 1)
            log.warning("%s failed (attempt %d/%d): %s", self.queue.name, attempt, self.max_attempts, error)
        else:
            headers[ERROR_HEADER] = error
            target, expiration = self.dead_queue.name, None
            log.error("%s dead-lettered after %d attempts: %s", self.queue.name, attempt, error)
        self.publisher.publish(
            message.payload,
            exchange=Exchange(""),
            routing_key=target,
            headers=headers,
            expiration=expiration / 1000 if expiration else None,
        )


subscribe = Subscription.decorator


def define_inbox(metadata: MetaData) -> Table:
    """Add the ``processed_events`` table (idempotent consumers) to a service's metadata."""
    return Table(
        "processed_events",
        metadata,
        Column("event_id", String(36), primary_key=True),
        Column("handler", String(100), primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False),
    )


def already_processed(session: Session, inbox: Table, event_id: str, handler: str) -> bool:
    return (
        session.execute(
            select(inbox.c.event_id).where(inbox.c.event_id == event_id, inbox.c.handler == handler)
        ).first()
        is not None
    )


def mark_processed(
    session: Session, inbox: Table, event_id: str, handler: str, *, clock: Clock = SYSTEM_CLOCK
) -> None:
    """Record the event in the caller's transaction; a concurrent duplicate fails the commit."""
    session.execute(inbox.insert().values(event_id=event_id, handler=handler, processed_at=clock.now()))
