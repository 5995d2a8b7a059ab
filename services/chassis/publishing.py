"""Publishing: a batch of messages with one wait for the broker's confirmations, and single
messages through kombu's producer pool without a new connection object per message.

A publisher confirm costs a round trip; nameko's publisher waits for each message's before it
sends the next, so a relay with a backlog of N events spends N round trips, and in a busy
process each wait also waits its turn among the green threads. :class:`BatchPublisher` sends a
whole batch on a channel in confirm mode and then waits once, until the broker has confirmed
(or refused) every message or ``confirm_timeout`` has passed.

Promises:

- :meth:`BatchPublisher.publish` returns the positions of the messages the broker confirmed
  (``basic.ack``, one by one or ``multiple``); only those may be counted as sent. A message the
  broker refused (``basic.nack``) or did not confirm in time is left out, and the connection is
  dropped, so the next batch starts on a fresh channel whose confirmations cannot be mistaken
  for this one's.
- If nothing could be confirmed because the broker cannot be reached or the connection fails
  before any confirmation, it raises, so the caller backs off; it never blocks longer than
  ``confirm_timeout`` after its last send.
- Messages are published in order, JSON, persistent, with the headers given, to one exchange
  declared (as every publisher here does) once per connection.

The caller keeps what it published until it has the confirmations: a message whose confirmation
is lost is published again later (at least once; consumers recognise a redelivered event id).

:class:`HeldPublisher` publishes one message at a time (RPC replies, :data:`TRANSIENT` and
unconfirmed; requests go out on the caller's link, :mod:`services.chassis.request_channel`) as
nameko's ``Publisher`` does - kombu's producer pool, its retry policy, JSON,
``UndeliverableMessage`` for a message no queue takes - but keeps the kombu ``Connection`` that
keys the pool instead of building one per message (parsing the URI and hashing its options:
~40 us, about a fifth of a request's publish).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kombu import Connection, Exchange, Producer
from kombu.common import maybe_declare
from kombu.exceptions import ChannelError
from kombu.pools import producers
from nameko.amqp.publish import UndeliverableMessage
from nameko.constants import DEFAULT_TRANSPORT_OPTIONS

log = logging.getLogger(__name__)

PERSISTENT = 2
"""Events: their durable queues keep them on disk through a broker restart."""
TRANSIENT = 1
"""RPC requests and replies: a request is dead at its deadline (seconds away), long before a
restarted broker could hand a persisted copy to anyone who still waits for it, and the reply queue
that would take its answer ends with the caller's connection. Persisting them cost every request a
message-store write (bench/RESULTS.md, "transient RPC messages, one batch at a time")."""


@dataclass(frozen=True)
class Outgoing:
    """One message of a batch."""

    routing_key: str
    body: Mapping[str, Any]
    headers: Mapping[str, Any]


class BatchPublisher:
    """See the module docstring; one instance is used by one green thread at a time."""

    def __init__(self, amqp_uri: str, exchange: Exchange, *, confirm_timeout: float = 5.0) -> None:
        self.amqp_uri = amqp_uri
        self.exchange = exchange
        self.confirm_timeout = confirm_timeout
        self._connection: Any = None
        self._producer: Producer | None = None
        self._next_tag = 1
        self._batch_first = 1
        self._acked: set[int] = set()
        self._nacked: set[int] = set()

    # -- the channel ----------------------------------------------------------------------------------
    def _open(self) -> Producer:
        if self._producer is not None:
            return self._producer
        connection = Connection(self.amqp_uri, transport_options={"confirm_publish": False})
        try:
            connection.ensure_connection(max_retries=1)
            channel = connection.channel()
            channel.confirm_select()
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)
            maybe_declare(self.exchange, channel)
        except Exception:
            _close_quietly(connection)
            raise
        self._connection = connection
        self._producer = Producer(channel, exchange=self.exchange, serializer="json")
        self._next_tag = 1
        self._acked.clear()
        self._nacked.clear()
        return self._producer

    def close(self) -> None:
        """Drop the connection (the next batch opens a new one)."""
        connection, self._connection, self._producer = self._connection, None, None
        if connection is not None:
            _close_quietly(connection)

    def _on_ack(self, tag: int, multiple: bool) -> None:
        self._settle(self._acked, tag, multiple)

    def _on_nack(self, tag: int, multiple: bool) -> None:
        self._settle(self._nacked, tag, multiple)

    def _settle(self, into: set[int], tag: int, multiple: bool) -> None:
        if not multiple:
            into.add(tag)
            return
        into.update(
            t for t in range(self._batch_first, tag + 1) if t not in self._acked and t not in self._nacked
        )

    # -- publishing -------------------------------------------------------------------------------------
    def publish(self, messages: Sequence[Outgoing]) -> list[int]:
        """Publish ``messages``; the positions (0-based) of those the broker confirmed."""
        if not messages:
            return []
        producer = self._open()
        first = self._batch_first = self._next_tag
        self._acked.clear()
        self._nacked.clear()
        sent = 0
        try:
            for message in messages:
                producer.publish(
                    dict(message.body),
                    routing_key=message.routing_key,
                    headers=dict(message.headers),
                    delivery_mode=PERSISTENT,
                    retry=False,
                )
                sent += 1
            self._await(first, first + sent)
        except Exception as exc:
            confirmed = self._confirmed(first, sent)
            self.close()
            if not confirmed:
                raise
            log.warning("publishing stopped after %d confirmed messages: %s", len(confirmed), exc)
            return confirmed
        finally:
            self._next_tag = first + sent
        confirmed = self._confirmed(first, sent)
        if len(confirmed) < sent:
            log.warning("the broker did not confirm %d of %d messages", sent - len(confirmed), sent)
            self.close()
        return confirmed

    def _await(self, first: int, end: int) -> None:
        """Read from the broker until every tag in ``[first, end)`` is settled or time is up."""
        deadline = time.monotonic() + self.confirm_timeout
        while any(t not in self._acked and t not in self._nacked for t in range(first, end)):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                self._connection.drain_events(timeout=remaining)
            except TimeoutError:
                return

    def _confirmed(self, first: int, sent: int) -> list[int]:
        return [i for i in range(sent) if first + i in self._acked and first + i not in self._nacked]


def _close_quietly(connection: Any) -> None:
    try:
        connection.release()
    except Exception as exc:  # a broken connection may fail to close; it is dropped either way
        log.debug("closing a publishing connection: %s", exc)


class HeldPublisher:
    """Single messages through kombu's producer pool on a connection description made once.

    ``publish`` waits for the broker's confirm when ``confirms`` (and raises
    ``UndeliverableMessage`` for a ``mandatory`` message no queue takes); a connection failure is
    retried by ``retry_policy`` (kombu's ``ensure``) and then raised. Safe for many green threads:
    each publish takes its own producer (and channel) from the pool.
    """

    _shared: dict[tuple[Any, ...], HeldPublisher] = {}

    def __init__(
        self,
        amqp_uri: str,
        *,
        confirms: bool,
        retry_policy: Mapping[str, Any],
        ssl: Any = None,
        login_method: str | None = None,
        delivery_mode: int = PERSISTENT,
    ) -> None:
        self.connection = Connection(
            amqp_uri,
            transport_options={**DEFAULT_TRANSPORT_OPTIONS, "confirm_publish": confirms},
            ssl=ssl,
            login_method=login_method,
        )
        self.retry_policy = dict(retry_policy)
        self.delivery_mode = delivery_mode

    @classmethod
    def shared(
        cls,
        amqp_uri: str,
        *,
        confirms: bool,
        retry_policy: Mapping[str, Any],
        ssl: Any = None,
        login_method: str | None = None,
        delivery_mode: int = PERSISTENT,
    ) -> HeldPublisher:
        """One publisher per broker URI and settings in the process (nameko builds a responder's
        publisher for every reply)."""
        key = (
            amqp_uri,
            confirms,
            tuple(sorted(retry_policy.items())),
            repr(ssl),
            login_method,
            delivery_mode,
        )
        held = cls._shared.get(key)
        if held is None:
            held = cls._shared[key] = cls(
                amqp_uri,
                confirms=confirms,
                retry_policy=retry_policy,
                ssl=ssl,
                login_method=login_method,
                delivery_mode=delivery_mode,
            )
        return held

    def publish(
        self,
        payload: Any,
        *,
        exchange: Exchange,
        routing_key: str,
        mandatory: bool = False,
        headers: Mapping[str, Any] | None = None,
        serializer: str = "json",
        **properties: Any,
    ) -> None:
        """Publish one message (``properties``: correlation_id, reply_to, expiration...)."""
        with producers[self.connection].acquire(block=True) as producer:
            try:
                producer.publish(
                    payload,
                    exchange=exchange,
                    routing_key=routing_key,
                    headers=dict(headers or {}),
                    delivery_mode=self.delivery_mode,
                    mandatory=mandatory,
                    serializer=serializer,
                    retry=True,
                    retry_policy=self.retry_policy,
                    **properties,
                )
            except ChannelError as exc:
                if "NO_ROUTE" in str(exc):
                    raise UndeliverableMessage() from exc
                raise
