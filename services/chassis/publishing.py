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

:class:`HeldPublisher` publishes one message at a time, unconfirmed, on a channel it holds (RPC
replies, :data:`TRANSIENT`; requests go out on the caller's link,
:mod:`services.chassis.request_channel`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import eventlet
from eventlet.event import Event
from eventlet.semaphore import Semaphore
from kombu import Connection, Exchange, serialization
from kombu.common import maybe_declare

from services.chassis.amqp_io import corked, skip_publish_drain

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
        self._producer: _ChannelWriter | None = None
        self._next_tag = 1
        self._batch_first = 1
        self._acked: set[int] = set()
        self._nacked: set[int] = set()

    # -- the channel ----------------------------------------------------------------------------------
    def _open(self) -> _ChannelWriter:
        if self._producer is not None:
            return self._producer
        connection = Connection(self.amqp_uri, transport_options={"confirm_publish": False})
        try:
            connection.ensure_connection(max_retries=1)
            channel = connection.channel()
            channel.confirm_select()
            skip_publish_drain(channel)  # the confirm wait reads this connection
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)
            maybe_declare(self.exchange, channel)
        except Exception:
            _close_quietly(connection)
            raise
        self._connection = connection
        self._producer = _ChannelWriter(channel, self.exchange.name)
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
            with corked(producer.channel):  # the batch in one write
                for message in messages:
                    producer.publish(message.body, routing_key=message.routing_key, headers=message.headers)
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


def write(
    channel: Any,
    body: bytes | str,
    *,
    exchange: str,
    routing_key: str,
    content_type: str,
    content_encoding: str,
    properties: Mapping[str, Any],
    headers: Mapping[str, Any] | None = None,
) -> None:
    """Write one message already serialized on ``channel`` (kombu's py-amqp channel) as it is:
    prepared directly and published without waiting for anything (not ``mandatory``; on a
    confirm-mode channel its confirm is the caller's to wait for).
    The held publisher, the relay's batches and the link's reply-path probe write this way."""
    message = channel.prepare_message(
        body,
        content_type=content_type,
        content_encoding=content_encoding,
        headers=dict(headers) if headers is not None else None,
        properties=dict(properties),
    )
    channel.basic_publish(message, exchange=exchange, routing_key=routing_key)


class _ChannelWriter:
    """Writes persistent JSON messages to one exchange on one channel: what kombu's ``Producer``
    did for a batch, without its per-message preparation (~60 us a message, a third of an event's
    publish)."""

    def __init__(self, channel: Any, exchange: str) -> None:
        self.channel = channel
        self.exchange = exchange

    def publish(self, body: Mapping[str, Any], *, routing_key: str, headers: Mapping[str, Any]) -> None:
        content_type, content_encoding, data = serialization.dumps(dict(body), serializer="json")
        write(
            self.channel,
            data,
            exchange=self.exchange,
            routing_key=routing_key,
            content_type=content_type,
            content_encoding=content_encoding,
            properties={"delivery_mode": PERSISTENT},
            headers=headers,
        )


def _close_quietly(connection: Any) -> None:
    try:
        connection.release()
    except Exception as exc:  # a broken connection may fail to close; it is dropped either way
        log.debug("closing a publishing connection: %s", exc)


RETRY_PAUSE = 0.5
"""A held publisher's third and later attempts wait this long first (the first two do not: the
second is on a new connection, which is usually all a dropped one needs)."""


@dataclass
class _Held:
    """One message a held publisher was asked to write: its body and ``write``'s keywords."""

    body: bytes | str
    how: dict[str, Any]


@dataclass
class _Turn:
    """The messages of one turn of the hub a held publisher writes together, and how that went."""

    messages: list[_Held]
    outcome: Event = field(default_factory=Event)


class HeldPublisher:
    """Single unconfirmed messages on one channel this publisher holds (RPC replies).

    A publish serializes its payload, or takes one already serialized (:meth:`publish_body`), and
    writes it whole under a lock, so green threads never interleave their frames. Publishes made in
    one turn of the hub (the replies of one group commit) are written together, in one write: the
    first yields once to let the others join, and each returns only once its own message is written
    (or raises what the write raised). Nothing is read
    back: no confirm, no ``mandatory`` (a reply's queue is its caller's, and a lost reply is its
    caller's deadline). A write that fails drops the connection and is made again on a new one,
    ``attempts`` times in all, then raised. Through kombu's producer pool the same message cost
    ~100 us of CPU against ~35 here (bench/RESULTS.md, stop 24), the pool's acquire, retry wrapper
    and message preparation included.
    """

    _shared: dict[tuple[Any, ...], HeldPublisher] = {}

    def __init__(
        self,
        amqp_uri: str,
        *,
        attempts: int = 3,
        ssl: Any = None,
        login_method: str | None = None,
        delivery_mode: int = PERSISTENT,
    ) -> None:
        self.amqp_uri = amqp_uri
        self.ssl = ssl
        self.login_method = login_method
        self.attempts = max(1, attempts)
        self.delivery_mode = delivery_mode
        self._lock = Semaphore()
        self._turn: _Turn | None = None
        self._connection: Any = None
        self._channel: Any = None

    @classmethod
    def shared(
        cls,
        amqp_uri: str,
        *,
        attempts: int = 3,
        ssl: Any = None,
        login_method: str | None = None,
        delivery_mode: int = PERSISTENT,
    ) -> HeldPublisher:
        """One publisher per broker URI and settings in the process (nameko builds a responder
        for every reply)."""
        key = (amqp_uri, attempts, repr(ssl), login_method, delivery_mode)
        held = cls._shared.get(key)
        if held is None:
            held = cls._shared[key] = cls(
                amqp_uri, attempts=attempts, ssl=ssl, login_method=login_method, delivery_mode=delivery_mode
            )
        return held

    def publish(
        self,
        payload: Any,
        *,
        exchange: Exchange | str,
        routing_key: str,
        headers: Mapping[str, Any] | None = None,
        serializer: str = "json",
        **properties: Any,
    ) -> None:
        """Publish ``payload`` (``properties``: correlation_id, reply_to, expiration...)."""
        content_type, content_encoding, body = serialization.dumps(payload, serializer=serializer)
        self.publish_body(
            body,
            content_type=content_type,
            content_encoding=content_encoding,
            exchange=exchange,
            routing_key=routing_key,
            headers=headers,
            **properties,
        )

    def publish_body(
        self,
        body: bytes | str,
        *,
        content_type: str,
        content_encoding: str,
        exchange: Exchange | str,
        routing_key: str,
        headers: Mapping[str, Any] | None = None,
        **properties: Any,
    ) -> None:
        """Publish a body already serialized."""
        name = exchange if isinstance(exchange, str) else exchange.name
        properties["delivery_mode"] = self.delivery_mode
        if "expiration" in properties:  # seconds, as kombu takes it; AMQP wants milliseconds, a string
            properties["expiration"] = str(max(0, int(float(properties["expiration"]) * 1000)))
        message = _Held(
            body,
            {
                "exchange": name,
                "routing_key": routing_key,
                "content_type": content_type,
                "content_encoding": content_encoding,
                "properties": properties,
                "headers": headers or {},
            },
        )
        turn = self._turn
        if turn is not None:  # another publish of this turn of the hub writes it with its own
            turn.messages.append(message)
            turn.outcome.wait()  # raises what that write raised
            return
        turn = self._turn = _Turn([message])
        try:
            eventlet.sleep(0)  # the other publishes of this turn (a group commit's replies) join in
            self._turn = None
            self._write_all(turn.messages)
        except BaseException as exc:
            if self._turn is turn:
                self._turn = None
            stopped = ConnectionError("the publish writing this message was stopped")
            turn.outcome.send_exception(exc if isinstance(exc, Exception) else stopped)
            raise
        turn.outcome.send(None)

    def _write_all(self, messages: list[_Held]) -> None:
        """Write ``messages`` together (one write to the socket), retrying as the class docstring says."""
        with self._lock:
            for attempt in range(1, self.attempts + 1):
                if attempt > 2:
                    eventlet.sleep(RETRY_PAUSE)
                try:
                    channel = self._open()
                    with corked(channel):
                        for held in messages:
                            write(channel, held.body, **held.how)
                    return
                except Exception as exc:
                    self.close()
                    if attempt == self.attempts:
                        raise
                    log.info(
                        "publishing %d messages failed (%s); again on a new connection", len(messages), exc
                    )

    def _open(self) -> Any:
        if self._channel is None:
            connection = Connection(self.amqp_uri, ssl=self.ssl, login_method=self.login_method)
            try:
                connection.connect()
                self._channel = connection.channel()
                skip_publish_drain(self._channel)
            except Exception:
                _close_quietly(connection)
                raise
            self._connection = connection
        return self._channel

    def close(self) -> None:
        """Drop the connection (the next publish opens a new one)."""
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            _close_quietly(connection)
