"""Publishing to a real broker from tests the way a producer (or an impostor) would, and
waiting for what the consumers do with it."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import amqp
import eventlet
from kombu import Connection, Exchange

from services.chassis.outbox import event_exchange
from services.chassis.wire import PRODUCER_HEADER


def publish_event(
    amqp_uri: str,
    source: str,
    event_type: str,
    payload: Any,
    *,
    producer: str | None = None,
    headers: dict[str, Any] | None = None,
    connection: Connection | None = None,
) -> None:
    """Publish ``payload`` as ``source``'s outbox relay does: to ``<source>.events``, naming
    ``producer`` (``source`` unless given) in the producer header, with publisher confirms; on
    ``connection`` (one of :func:`confirming`) if given, else on a connection of its own."""
    all_headers = {PRODUCER_HEADER: source if producer is None else producer, **(headers or {})}
    publish_raw(
        amqp_uri,
        json.dumps(payload).encode(),
        exchange=event_exchange(source),
        routing_key=event_type,
        headers=all_headers,
        connection=connection,
    )


@contextlib.contextmanager
def confirming(amqp_uri: str) -> Iterator[Connection]:
    """One connection with publisher confirms, for publishing many events at a pace the test sets:
    a connection per event costs its handshake each time, which a loaded machine stretches."""
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        yield conn


def publish_raw(
    amqp_uri: str,
    body: bytes,
    *,
    exchange: Exchange,
    routing_key: str,
    content_type: str | None = "application/json",
    headers: dict[str, Any] | None = None,
    connection: Connection | None = None,
) -> None:
    """Publish ``body`` exactly as given (no serialisation; no content type at all when None),
    persistent, waiting for the broker's confirm (on ``connection``, one of :func:`confirming`,
    if given)."""
    properties: dict[str, Any] = {"delivery_mode": 2, "application_headers": headers or {}}
    if content_type is not None:
        properties.update(content_type=content_type, content_encoding="utf-8")
    opened = confirming(amqp_uri) if connection is None else contextlib.nullcontext(connection)
    with opened as conn:
        conn.default_channel.basic_publish(
            amqp.Message(body, **properties), exchange=exchange.name, routing_key=routing_key
        )


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, poll: float = 0.05) -> None:
    """Wait (green) until ``predicate()`` holds; AssertionError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        eventlet.sleep(poll)
