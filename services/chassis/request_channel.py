"""RPC requests sent on the caller's own broker link, confirmed by the link's reading loop.

A :class:`~services.chassis.rpc.BrokerLink` already holds a connection and reads it without pause
for its replies. Sending its requests there too, on a second channel in confirm mode, lets that
same loop read the broker's confirmations and returns with the replies: a call costs one write and
no wait of its own besides the one for its reply, where a pooled publisher on another connection
waited for each confirm on that connection (kombu's producer, a read and a green-thread switch:
~110 us of CPU per request of the ~150 its publish cost, measured in bench/RESULTS.md).

Promises:

- :meth:`RequestChannel.send` writes one request whole, JSON, transient (see
  :data:`~services.chassis.publishing.TRANSIENT`) and ``mandatory``, or raises. One writer at a
  time: every write on the connection (requests, the link's heartbeats and probes) holds
  :meth:`RequestChannel.writing`. A write that cannot finish within its time closes the
  connection, since what follows a half-written frame would be read as garbage, and so does a
  write that fails; the link then reconnects and fails the calls waiting on it.
- The broker's answer to each request is settled as the loop reads it: a confirmation needs
  nothing more (the caller waits for its reply), a request the broker refused (``basic.nack``)
  or returned (no queue takes it) is reported through ``on_refused(correlation_id, reason)`` at
  once, so its caller fails fast instead of waiting out its deadline.
- A channel belongs to one connection: :meth:`open` starts afresh (tags count from 1 again) and
  forgets what the previous connection left unconfirmed (the link fails those calls as lost).
  After a refusal the link's loop moves the requests to a new channel
  (:meth:`RequestChannel.renew_if_refused`, which says why).
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any

import eventlet
from eventlet.semaphore import Semaphore
from kombu import serialization

from services.chassis.amqp_io import skip_publish_drain
from services.chassis.publishing import TRANSIENT

log = logging.getLogger(__name__)

UNROUTABLE = "unroutable"
"""No queue takes the request (nobody serves that service): the broker returned it."""
REFUSED = "refused"
"""The broker would not take the request (``basic.nack``)."""


class _Confirms:
    """One channel in confirm mode and the requests it has not had confirmed yet, by delivery tag
    (tags count per channel, so each channel keeps its own)."""

    def __init__(self, channel: Any, on_refused: Callable[[str, str], None], on_nack: Callable[[], None]):
        self.channel = channel
        self.tag = 0
        self.unconfirmed: dict[int, str] = {}
        self._on_refused = on_refused
        self._on_nack = on_nack
        channel.confirm_select()
        channel.events["basic_ack"].add(self._acked)
        channel.events["basic_nack"].add(self._nacked)
        channel.events["basic_return"].add(self._returned)

    def _settle(self, tag: int, multiple: bool) -> list[str]:
        if not multiple:
            settled = self.unconfirmed.pop(tag, None)
            return [] if settled is None else [settled]
        done = [t for t in self.unconfirmed if t <= tag]
        return [self.unconfirmed.pop(t) for t in sorted(done)]

    def _acked(self, delivery_tag: int, multiple: bool) -> None:
        self._settle(delivery_tag, multiple)

    def _nacked(self, delivery_tag: int, multiple: bool) -> None:
        for correlation_id in self._settle(delivery_tag, multiple):
            self._on_refused(correlation_id, REFUSED)
        self._on_nack()

    def _returned(self, _exc: Exception, _exchange: str, _routing_key: str, message: Any) -> None:
        correlation_id = message.properties.get("correlation_id")
        if correlation_id:
            self._on_refused(str(correlation_id), UNROUTABLE)


class RequestChannel:
    """The confirm-mode channel a link sends its requests on (see the module docstring)."""

    def __init__(self, on_refused: Callable[[str, str], None]) -> None:
        self._on_refused = on_refused
        self._lock = Semaphore()
        self._connection: Any = None
        self._confirms: _Confirms | None = None
        self._renew = False

    def open(self, connection: Any) -> None:
        """Send on a new channel of ``connection`` (a kombu connection) from now on."""
        self._connection, self._renew = connection, False
        self._confirms = _Confirms(connection.channel(), self._on_refused, self._refused_one)
        skip_publish_drain(self._confirms.channel)  # the link's loop reads this connection

    def close(self) -> None:
        """The connection is gone: nothing more can be sent or confirmed on it."""
        self._connection, self._confirms = None, None

    @property
    def channel(self) -> Any:
        """The channel requests go out on now (None while there is no connection)."""
        return self._confirms.channel if self._confirms is not None else None

    @property
    def sent(self) -> int:
        """Requests sent on :attr:`channel` (its last delivery tag)."""
        return self._confirms.tag if self._confirms is not None else 0

    @property
    def unconfirmed(self) -> list[str]:
        """Correlation ids of the requests on :attr:`channel` the broker has not confirmed yet."""
        return list(self._confirms.unconfirmed.values()) if self._confirms is not None else []

    def _refused_one(self) -> None:
        self._renew = True

    def renew_if_refused(self) -> None:
        """After a refusal, send on a new channel of the same connection (call it from the loop that
        reads the connection, holding :meth:`writing`). RabbitMQ 3.10 keeps refusing ``mandatory``
        requests to a quorum queue on a channel that first sent to it while its leader was being
        elected, for as long as the channel lives; a new channel is answered at once. The old one
        is closed; its requests still unconfirmed wait for their replies."""
        if not self._renew or self._connection is None or self._confirms is None:
            return
        self._renew = False
        old = self._confirms
        self._confirms = _Confirms(self._connection.channel(), self._on_refused, self._refused_one)
        try:
            old.channel.close()
        except Exception as exc:  # the connection's own failure reaches the loop on its next read
            log.debug("closing a refused request channel: %s", exc)

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the connection's writing side (heartbeats and probes of the link's loop)."""
        with self._lock:
            yield

    def send(
        self,
        payload: Any,
        *,
        exchange: str,
        routing_key: str,
        correlation_id: str,
        reply_to: str,
        headers: dict[str, Any],
        expiration: float,
        timeout: float,
    ) -> None:
        """Write one request (see the module docstring); ``timeout`` bounds the wait for the
        writing side and the write. Raises ConnectionError when there is no channel, TimeoutError
        when the time ran out (the connection is ended if a write was cut short), and whatever
        the write raised (the connection is ended then too)."""
        content_type, content_encoding, body = serialization.dumps(payload, serializer="json")
        if not self._lock.acquire(timeout=max(0.0, timeout)):
            raise TimeoutError("another request held the broker link longer than this one may wait")
        try:
            confirms = self._confirms
            if confirms is None:  # no connection, or it went while this one waited
                raise ConnectionError("the broker link is not connected")
            channel = confirms.channel
            message = channel.prepare_message(
                body,
                content_type=content_type,
                content_encoding=content_encoding,
                headers=headers,
                properties={
                    "correlation_id": correlation_id,
                    "reply_to": reply_to,
                    "delivery_mode": TRANSIENT,
                    "expiration": str(max(1, int(expiration * 1000))),
                },
            )
            tag = confirms.tag + 1
            confirms.unconfirmed[tag] = correlation_id
            try:
                with eventlet.Timeout(max(0.001, timeout)):
                    channel.basic_publish(message, exchange=exchange, routing_key=routing_key, mandatory=True)
            except eventlet.Timeout:
                confirms.unconfirmed.pop(tag, None)
                _cut(channel)
                raise TimeoutError("the request could not be written in time") from None
            except Exception:
                confirms.unconfirmed.pop(tag, None)
                _cut(channel)  # the loop may be waiting on a socket that will never answer
                raise
            confirms.tag = tag
        finally:
            self._lock.release()


def _cut(channel: Any) -> None:
    """End ``channel``'s connection now: the link's loop, reading it, gets its end at once and
    reconnects. A shutdown, not a close: the loop's pending read must not find the descriptor's
    number given to another socket meanwhile."""
    try:
        channel.connection.transport.sock.shutdown(socket.SHUT_RDWR)
    except Exception as exc:  # already shut, or never opened: the loop notices either way
        log.debug("closing a broker link after a cut write: %s", exc)
