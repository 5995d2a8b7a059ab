"""Subscribing to another service's events without losing or doubling any.

:func:`subscribe` replaces ``nameko.events.event_handler``. Its queue is durable and is declared
(with its retry and dead-letter companions) by the deploy step before any service starts, so an
event published while a subscriber is down waits for it. No message that reaches the queue is
acknowledged unless its handler succeeded or it was parked with the reason:

* a handler that raises a *transient* error is retried: the message is republished to
  ``<queue>.retry`` (a TTL queue that dead-letters back into ``<queue>``) with growing back-off,
  and after ``max_attempts`` it is parked in ``<queue>.dead`` with the error. On quorum queues
  the back-off is waited out by the worker holding the message (at most 1.6 s), which then
  republishes it straight to ``<queue>``: RabbitMQ can leave a message on a quorum queue past its
  TTL when nothing consumes there (rabbitmq-server#10718; our chaos test saw two retries stay in
  a ``.retry`` queue after a node was killed), and a retry must not wait for the next failure;
* a message no retry can heal is parked in ``<queue>.dead`` at once, with the reason: a body
  that cannot be decoded (not JSON, another content type) or is not a JSON object with an
  ``event_id``, a payload its contract refuses (marshmallow's ``ValidationError``, our
  :class:`ValidationFailed`, or :class:`Unprocessable` raised by the handler), headers nameko
  could not turn into a worker context, and an event whose envelope does not show that it
  came from the service that owns it (see below).

``python -m deploy.dlq show`` prints the reason (header ``x-helpdesk-error``); ``replay`` puts
parked messages back.

**Envelope.** Only the producer's broker user may publish to ``<source>.events`` (see
``deploy.broker_users``), and its outbox relay names itself in the ``x-helpdesk-producer``
header. A subscription accepts an event only if it arrived through ``<source>.events`` and names
``source`` as its producer. Retries, dead letters and replays travel through the subscribing
service's own ``<service>.redelivery`` exchange (nobody else may publish there), carrying the
exchange of their first arrival in ``x-helpdesk-origin``, which is checked again on every
delivery; nothing travels through the default exchange, so a message published straight to a
subscription queue by name is refused.

Handlers must be idempotent: every event carries ``event_id``; a handler stores it with its
effect through :func:`already_processed` / :func:`mark_processed`, in the same transaction, so a
redelivered event changes nothing.
"""

from __future__ import annotations

import functools
import json
import logging
import traceback
from collections.abc import Sequence
from typing import Any

import eventlet
from kombu import Connection, Exchange, Queue, binding
from marshmallow import ValidationError
from nameko.amqp.publish import Publisher
from nameko.events import EventHandler
from nameko.messaging import Consumer
from sqlalchemy import Column, DateTime, MetaData, String, Table, bindparam, select
from sqlalchemy.orm import Session

from services.chassis import config as cfg
from services.chassis import metrics
from services.chassis.clock import SYSTEM_CLOCK, Clock
from services.chassis.consuming import GuardedQueueConsumer, connected, context_problem, declare_if_allowed
from services.chassis.errors import HelpdeskError, ValidationFailed
from services.chassis.outbox import event_exchange
from services.chassis.prepared import Prepared
from services.chassis.queues import CLASSIC, DELIVERY_LIMIT, QUORUM, durable_arguments, queue_type
from services.chassis.wire import PRODUCER_HEADER

log = logging.getLogger(__name__)

ATTEMPT_HEADER = "x-helpdesk-attempt"
ERROR_HEADER = "x-helpdesk-error"
ORIGIN_HEADER = "x-helpdesk-origin"
DEFAULT_MAX_ATTEMPTS = 5
BASE_BACKOFF_MS = 200
MAX_ERROR_LENGTH = 2000
JSON_CONTENT_TYPE = "application/json"
RAW_CONTENT_TYPE = "application/data"
"""kombu's name for a body without a content type; a parked message keeps its own otherwise."""


class Unprocessable(Exception):
    """Raised by a handler for an event no retry can make processable (one its rules refuse);
    it is parked in the dead-letter queue at once, with this error as the reason."""


PERMANENT_ERRORS: tuple[type[BaseException], ...] = (Unprocessable, ValidationError, ValidationFailed)
"""Errors that mean the message itself is wrong: retrying cannot heal them."""


def queue_name(source: str, event_type: str, service: str, method: str) -> str:
    """nameko's SERVICE_POOL queue name, so nameko tooling recognises our queues."""
    return f"evt-{source}-{event_type}--{service}.{method}"


def subscriber_of(queue: str) -> str:
    """The subscriber named in a subscription queue's name, ``evt-<src>-<type>--<service>.<method>``."""
    _, _, tail = queue.rpartition("--")
    return tail.split(".", 1)[0]


def redelivery_exchange(service: str) -> Exchange:
    """The direct exchange through which ``service``'s subscription queues get retries, dead
    letters and replays (routing key: the target queue's name). Only the service itself (and the
    deploy tools) may publish to it."""
    return Exchange(f"{service}.redelivery", type="direct", durable=True, auto_delete=False)


def subscription_queues(
    source: str, event_type: str, service: str, method: str, *, kind: str = CLASSIC
) -> tuple[Queue, Queue, Queue]:
    """The main, retry and dead-letter queues of one subscription (declared identically everywhere).

    The main queue's binding to the source's exchange only asserts that the exchange exists
    (passive): a service may not declare another's exchange; :func:`declare_subscription` does
    where it may. ``kind`` is classic or quorum (:mod:`services.chassis.queues`); as quorum queues,
    a main queue's message delivered more than ``DELIVERY_LIMIT`` times (its consumer died with
    it each time) goes to the dead-letter queue.
    """
    name = queue_name(source, event_type, service, method)
    redelivery = redelivery_exchange(service)
    source_exchange = event_exchange(source, passive=True)
    # classic main queues keep the arguments they always had (none), so existing ones still match
    poison = (
        durable_arguments(kind, delivery_limit=DELIVERY_LIMIT, dead_letter=(redelivery.name, f"{name}.dead"))
        if kind == QUORUM
        else {}
    )
    main = Queue(
        name,
        bindings=[binding(source_exchange, routing_key=event_type), binding(redelivery, routing_key=name)],
        durable=True,
        auto_delete=False,
        queue_arguments=poison,
    )
    retry = Queue(
        f"{name}.retry",
        exchange=redelivery,
        routing_key=f"{name}.retry",
        durable=True,
        queue_arguments=durable_arguments(kind, dead_letter=(redelivery.name, name)),
    )
    dead = Queue(
        f"{name}.dead",
        exchange=redelivery,
        routing_key=f"{name}.dead",
        durable=True,
        queue_arguments=durable_arguments(kind),
    )
    return main, retry, dead


def declare_subscription(
    connection: Connection, source: str, event_type: str, service: str, method: str, *, kind: str = CLASSIC
) -> None:
    """Declare one subscription's queues and the service's redelivery exchange; the source's event
    exchange too, if the connection's user may (a deploy tool may, a service's own user may not:
    the deploy step has declared it before any service starts)."""
    declare_if_allowed(connection, event_exchange(source))
    channel = connection.channel()
    try:
        redelivery_exchange(service)(channel).declare()
        for queue in subscription_queues(source, event_type, service, method, kind=kind):
            queue(channel).declare()
    finally:
        channel.close()


class Subscription(EventHandler):
    """A pooled event handler with an envelope check, bounded retries and a dead-letter queue."""

    queue_consumer = GuardedQueueConsumer()

    def __init__(
        self, source_service: str, event_type: str, max_attempts: int = DEFAULT_MAX_ATTEMPTS, **kwargs: Any
    ) -> None:
        self.max_attempts = max_attempts
        # nameko logs these as expected (a warning), not as a crash: the message is parked with the reason
        kwargs.setdefault("expected_exceptions", PERMANENT_ERRORS)
        super().__init__(source_service, event_type, **kwargs)

    def setup(self) -> None:
        amqp_uri = cfg.required(self.container.config, cfg.AMQP_URI)
        service = self.container.service_name
        kind = self.kind = queue_type(self.container.config)
        self.queue, self.retry_queue, self.dead_queue = subscription_queues(
            self.source_service, self.event_type, service, self.method_name, kind=kind
        )
        self.source_exchange = event_exchange(self.source_service).name
        self.redelivery = redelivery_exchange(service)
        with connected(amqp_uri) as conn:
            declare_subscription(
                conn, self.source_service, self.event_type, service, self.method_name, kind=kind
            )
        self.publisher = Publisher(amqp_uri, use_confirms=True)
        Consumer.setup(self)  # nameko's EventHandler.setup would build a queue of its own

    def handle_message(self, body: Any, message: Any) -> None:
        """Spawn the handler for an acceptable event; park anything else with the reason."""
        try:
            problem = self.refusal(body, message)
            if problem is None:
                self.accept(body, message)
                return
        except Exception as exc:  # whatever nameko trips over must not kill the container
            problem = f"cannot be handed to a worker: {type(exc).__name__}: {exc}"
        self.park_at_once(message, problem)

    def accept(self, body: Any, message: Any) -> None:
        """Hand an event that passed :meth:`refusal` to a worker (nameko's way: one per message)."""
        super().handle_message(body, message)

    def handle_undecodable(self, message: Any, error: Exception) -> None:
        """Called (by :class:`GuardedQueueConsumer`) for a body kombu cannot decode."""
        self.park_at_once(message, f"undecodable body ({message.content_type}): {error}")

    def refusal(self, body: Any, message: Any) -> str | None:
        """Why this delivery must not reach the handler, or None."""
        if message.content_type != JSON_CONTENT_TYPE:
            return f"undecodable body ({message.content_type}): events are {JSON_CONTENT_TYPE}"
        if not isinstance(body, dict):
            return f"the body is not a JSON object but {type(body).__name__}"
        if not isinstance(body.get("event_id"), str) or not body["event_id"]:
            return "the body has no event_id"
        headers = message.headers or {}
        origin = self.origin(message)
        if origin != self.source_exchange:
            return f"arrived through exchange {origin!r}, not {self.source_exchange!r}"
        producer = headers.get(PRODUCER_HEADER)
        if producer != self.source_service:
            return f"names producer {producer!r} ({PRODUCER_HEADER}), not {self.source_service!r}"
        return context_problem(self.unpack_message_headers(message))

    def origin(self, message: Any) -> Any:
        """The exchange the message first arrived through (a retry or replay says so in a header)."""
        exchange = message.delivery_info.get("exchange")
        if exchange == self.redelivery.name:
            return (message.headers or {}).get(ORIGIN_HEADER)
        return exchange

    def handle_message_processed(self, message: Any, result: Any = None, exc_info: Any = None) -> None:
        if exc_info is None:
            self.queue_consumer.ack_message(message)
            return
        error = describe(exc_info[1])
        if isinstance(exc_info[1], PERMANENT_ERRORS):
            self.park_at_once(message, f"not retried: {error}")
        else:
            self._settle(message, error, retry=True)

    def park_at_once(self, message: Any, reason: str) -> None:
        """Park ``message`` in the dead-letter queue without retrying it."""
        self._settle(message, reason, retry=False)

    def _settle(self, message: Any, error: str, *, retry: bool) -> None:
        try:
            self._park(message, error, retry=retry)
        except Exception:
            log.exception("could not park failed event; returning it to its queue")
            self.queue_consumer.requeue_message(message)
            return
        self.queue_consumer.ack_message(message)

    def _park(self, message: Any, error: str, *, retry: bool) -> None:
        headers = dict(message.headers or {})
        headers[ORIGIN_HEADER] = self.origin(message)
        attempt = _attempt(headers.get(ATTEMPT_HEADER))
        expiration = None
        if retry and attempt < self.max_attempts:
            headers[ATTEMPT_HEADER] = attempt + 1
            target, expiration = self.retry_queue.name, BASE_BACKOFF_MS * 2 ** (attempt - 1)
            if self.kind == QUORUM:  # no broker TTL on quorum queues: see the module's docstring
                eventlet.sleep(expiration / 1000)
                target, expiration = self.queue.name, None
            log.warning("%s failed (attempt %d/%d): %s", self.queue.name, attempt, self.max_attempts, error)
            metrics.EVENT_RETRIES.labels(metrics.service_of(self), self.queue.name).inc()
        else:
            headers[ERROR_HEADER] = (error if not retry else f"after {attempt} attempts: {error}")[
                :MAX_ERROR_LENGTH
            ]
            target = self.dead_queue.name
            log.error("%s dead-lettered: %s", self.queue.name, headers[ERROR_HEADER])
            metrics.EVENTS_DEAD_LETTERED.labels(metrics.service_of(self), self.queue.name).inc()
        self.publisher.publish(
            message.body,
            exchange=self.redelivery,
            routing_key=target,
            headers=headers,
            content_type=message.content_type or RAW_CONTENT_TYPE,
            content_encoding=message.content_encoding or "binary",
            expiration=expiration / 1000 if expiration else None,
        )


def describe(error: BaseException) -> str:
    """One line naming the error's class and message, and a wire error's fields (a
    ``ValidationFailed``'s ``errors``): what the dead-letter queue shows."""
    text = "".join(traceback.format_exception_only(type(error), error)).strip()
    if isinstance(error, HelpdeskError) and error.extra:
        text += " " + json.dumps(error.extra, default=str, sort_keys=True)
    return text


def _attempt(value: Any) -> int:
    """The attempt a message is on; a header someone else set to nonsense counts as the first."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else 1


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


@functools.cache
def _inbox_statements(inbox: Table) -> tuple[Prepared, Prepared, Prepared]:
    """The statements every consumer runs per event or batch, built and compiled once per inbox
    table (:mod:`services.chassis.prepared`)."""
    seen = select(inbox.c.event_id).where(
        inbox.c.event_id == bindparam("event_id"), inbox.c.handler == bindparam("handler")
    )
    seen_among = select(inbox.c.event_id).where(
        inbox.c.event_id.in_(bindparam("event_ids", expanding=True)), inbox.c.handler == bindparam("handler")
    )
    return Prepared(seen), Prepared(seen_among), Prepared(inbox.insert())


def already_processed(session: Session, inbox: Table, event_id: str, handler: str) -> bool:
    seen, _among, _mark = _inbox_statements(inbox)
    return seen.run(session, {"event_id": event_id, "handler": handler}).first() is not None


def processed_among(session: Session, inbox: Table, event_ids: Sequence[str], handler: str) -> set[str]:
    """Which of ``event_ids`` ``handler`` has processed already (a batch's :func:`already_processed`)."""
    if not event_ids:
        return set()
    _seen, among, _mark = _inbox_statements(inbox)
    found = among.run(session, {"event_ids": sorted(set(event_ids)), "handler": handler})
    return {row.event_id for row in found}


def mark_processed(
    session: Session, inbox: Table, event_id: str, handler: str, *, clock: Clock = SYSTEM_CLOCK
) -> None:
    """Record the event in the caller's transaction; a concurrent duplicate fails the commit."""
    mark_processed_many(session, inbox, [event_id], handler, clock=clock)


def mark_processed_many(
    session: Session, inbox: Table, event_ids: Sequence[str], handler: str, *, clock: Clock = SYSTEM_CLOCK
) -> None:
    """:func:`mark_processed` for each of ``event_ids`` (a batch's), in one statement."""
    if not event_ids:
        return
    _seen, _among, mark = _inbox_statements(inbox)
    now = clock.now()
    mark.many(session, [{"event_id": e, "handler": handler, "processed_at": now} for e in event_ids])
