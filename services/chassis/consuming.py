"""The consuming connection every entrypoint of ours shares: quick to reconnect, and no message lost
to a body it cannot decode or a header that would crash a worker.

nameko's ``QueueConsumer`` (through kombu's ``ConsumerMixin``) has two habits we cannot keep:

* a message whose body cannot be decoded (bytes that are not JSON, a content type other than
  JSON, a pickle) is logged and **acknowledged**, so it is lost without trace;
* after losing the broker it retries with kombu's default back-off (2 s, 4 s, 6 s ... up to
  30 s), so a service can stay deaf for many seconds after the broker is back;
* acknowledging a message on a connection the broker has just closed raises an error nameko
  does not catch, in the worker's thread, which kills the container (and the process).

:class:`GuardedQueueConsumer` hands an undecodable message to its provider's
``handle_undecodable(message, error)`` (an event subscription parks it in its dead-letter
queue, an RPC entrypoint answers ``BadRequest``); a provider without one has the message
rejected, which dead-letters it where the queue has a dead-letter exchange. It reconnects with
a bounded back-off (0.1 s growing to at most 1 s, starting again after every success), so it is
consuming again within about a second of the broker's return, and it never gives up. A message
it cannot acknowledge because the connection is gone is left to the broker, which delivers it
again.

:func:`context_problem` checks the ``nameko.*`` headers nameko turns into a worker's context
before a worker exists: nameko itself would crash the whole container on, say, a call-id stack
that is not a list of strings.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

import eventlet
from amqp.exceptions import AccessRefused, AMQPError
from kombu import Connection, Exchange
from kombu.exceptions import KombuError
from nameko.messaging import QueueConsumer

from services.chassis.amqp_io import corked

log = logging.getLogger(__name__)

RECONNECT_POLICY: dict[str, float] = {"interval_start": 0.1, "interval_step": 0.2, "interval_max": 1.0}
"""kombu's ``ensure_connection`` intervals: the first retry after 0.1 s, then +0.2 s each time, at
most 1 s apart, so the broker's return is noticed within a second."""

READY_LINE = "ready: consuming"
"""Logged (INFO) once a container's consumers are all registered with the broker: a supervisor
restarting one instance of a service at a time waits for it (``services.registry`` repeats it)."""

CONNECTION_LOG_INTERVAL = 10.0
"""While the broker stays away, one warning per this many seconds is enough."""

CALL_ID_STACK_KEY = "call_id_stack"
DEADLINE_KEY = "deadline"
"""Context key of the absolute deadline (UNIX seconds) of the request being served."""
MAX_CALL_ID_STACK = 64
MAX_CALL_ID_LENGTH = 512


class GuardedQueueConsumer(QueueConsumer):
    """nameko's shared consuming connection, with undecodable messages handed to their provider
    and a reconnection that keeps trying every second at most.

    Shared by every :class:`~services.chassis.rpc.HelpdeskRpc` and
    :class:`~services.chassis.events.Subscription` of a container (one connection for both).
    """

    def __init__(self) -> None:
        super().__init__()
        self._last_connection_warning = 0.0
        self._pending_acks: list[Any] = []
        self.consuming = False
        """Whether the connection is up and consuming (a service's ``/readyz``)."""

    def get_consumers(self, consumer_cls: Any, channel: Any) -> Any:
        consumers = super().get_consumers(consumer_cls, channel)
        for provider, consumer in self._consumers.items():
            consumer.on_decode_error = partial(self._on_undecodable, provider)
            own = getattr(provider, "prefetch_count", None)
            _prefetch_when_consuming(
                consumer, own if isinstance(own, int) and own > 0 else self.prefetch_count
            )
        return consumers

    def _on_undecodable(self, provider: Any, message: Any, error: Exception) -> None:
        handler = getattr(provider, "handle_undecodable", None)
        if handler is None:
            log.error(
                "rejecting an undecodable message on %s (%s): %s",
                getattr(provider.queue, "name", "?"),
                message.content_type,
                error,
            )
            message.reject(requeue=False)
            return
        self.container.spawn_managed_thread(partial(handler, message, error), identifier="undecodable")

    def start(self) -> None:
        """nameko's start (which returns once every consumer is registered), then the ready line."""
        super().start()
        log.info("%s (%d queues)", READY_LINE, len(self._consumers))

    def ack_message(self, message: Any) -> None:
        """Acknowledge ``message``. Acks made by workers in one turn of the hub are written together:
        the first yields once, so that the others of the turn (the workers of one group commit,
        say) add theirs, then writes them all (:meth:`ack_messages`) before its worker goes on.
        A later one's worker goes on at once; its ack is written within the same turn."""
        pending = self._pending_acks
        pending.append(message)
        if len(pending) > 1:
            return
        try:
            eventlet.sleep(0)
        finally:
            self._pending_acks = []
            self.ack_messages(pending)

    def ack_messages(self, messages: Sequence[Any]) -> None:
        """Acknowledge ``messages``, those on one channel in one write (a batch's acks cost one
        system call, not one each; each write to the broker also costs it a read)."""
        by_channel: dict[int, list[Any]] = {}
        for message in messages:
            by_channel.setdefault(id(message.channel), []).append(message)
        for group in by_channel.values():
            try:
                with corked(group[0].channel):
                    for message in group:
                        self._settle(message, "ack")
            except (OSError, AMQPError, KombuError) as exc:
                log.warning(
                    "could not ack %d messages; the broker will deliver them again: %s", len(group), exc
                )

    def requeue_message(self, message: Any) -> None:
        self._settle(message, "requeue")

    def _settle(self, message: Any, how: str) -> None:
        # nameko catches only amqp's ConnectionError; a socket error (reset, broken pipe) from a
        # broker that just went away escaped into the worker's thread and killed the container.
        # An unsettled message is redelivered once the broker notices the connection is gone.
        try:
            if message.channel.connection:
                getattr(message, how)()
        except (OSError, AMQPError, KombuError) as exc:
            log.warning("could not %s a message; the broker will deliver it again: %s", how, exc)

    @contextmanager
    def establish_connection(self) -> Iterator[Connection]:
        with self.create_connection() as conn:
            conn.ensure_connection(self.on_connection_error, self.connect_max_retries, **RECONNECT_POLICY)
            yield conn

    def on_connection_error(self, exc: Exception, interval: float) -> None:
        self.consuming = False
        now = time.monotonic()
        if now - self._last_connection_warning >= CONNECTION_LOG_INTERVAL:
            self._last_connection_warning = now
            log.warning("broker unreachable (%s); retrying every %.1fs at most", exc, interval)

    def on_consume_ready(self, connection: Any, channel: Any, consumers: Any, **kwargs: Any) -> None:
        if self._last_connection_warning:
            log.info("broker connection back")
            self._last_connection_warning = 0.0
        self.consuming = True
        super().on_consume_ready(connection, channel, consumers, **kwargs)


def _prefetch_when_consuming(consumer: Any, prefetch: int) -> None:
    """Give ``consumer`` its own prefetch limit (a provider's ``prefetch_count``, else the
    container's ``max_workers``, nameko's only limit). All consumers share one channel, where a
    limit (``basic.qos``, not global) applies to the consumers started after it: so each one sets
    its own just before it starts, and none inherits another's."""
    start = consumer.consume

    def consume(*args: Any, **kwargs: Any) -> Any:
        consumer.qos(prefetch_count=prefetch)
        return start(*args, **kwargs)

    consumer.consume = consume


@contextmanager
def connected(amqp_uri: str) -> Iterator[Connection]:
    """A connection for set-up work, waiting for the broker as long as it takes (retrying at most a
    second apart): a service started while the broker is away waits for it instead of exiting."""
    last_warning = [0.0]

    def waiting(exc: Exception, interval: float) -> None:
        if time.monotonic() - last_warning[0] >= CONNECTION_LOG_INTERVAL:
            last_warning[0] = time.monotonic()
            log.warning("waiting for the broker (%s)", exc)

    with Connection(amqp_uri) as conn:
        conn.ensure_connection(waiting, None, **RECONNECT_POLICY)
        yield conn


def declare_if_allowed(connection: Connection, exchange: Exchange) -> bool:
    """Declare ``exchange`` if the connection's user may configure it; returns whether it did.

    A service's broker user may only configure what the service owns, so binding to another
    service's exchange (or to ``nameko-rpc``) declares it passively, relying on the deploy step
    having declared it; where the user may (a test's guest, the deploy user) it is declared here,
    so nothing depends on who started first.
    """
    channel = connection.channel()
    try:
        exchange(channel).declare(passive=False)
        return True
    except AccessRefused:
        return False
    finally:
        with contextlib.suppress(Exception):
            channel.close()


def context_problem(context: Mapping[str, Any]) -> str | None:
    """Why a message's context (its ``nameko.*`` headers, prefix stripped) cannot become a worker's
    context, or None.

    Only what nameko or the chassis would trip over is checked: the call-id stack (nameko joins
    it as strings; anything else kills the container) and the deadline (a number of UNIX
    seconds). The identity is for the identity check, which refuses anything but a genuine one.
    """
    stack = context.get(CALL_ID_STACK_KEY)
    if stack is not None and not (
        isinstance(stack, list)
        and len(stack) <= MAX_CALL_ID_STACK
        and all(isinstance(item, str) and len(item) <= MAX_CALL_ID_LENGTH for item in stack)
    ):
        return "the nameko.call_id_stack header is not a list of call ids"
    deadline = context.get(DEADLINE_KEY)
    if deadline is not None and parse_deadline(deadline) is None:
        return "the nameko.deadline header is not a number of seconds"
    return None


def parse_deadline(value: Any) -> float | None:
    """A deadline header as UNIX seconds, or None when it is not a finite number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None
