"""List, inspect and replay dead-lettered events.

    python -m deploy.dlq list                 # every dead-letter queue and its depth
    python -m deploy.dlq show QUEUE [N]       # the first N parked messages: why, and what
    python -m deploy.dlq replay QUEUE         # move them back to the live queue

It talks to ``AMQP_URI``, else to ``make run``'s own node as its deploy user.
``QUEUE`` is the subscription queue name (with or without ``.dead``). ``show`` prints, for each
message, the reason it was parked (a handler's error after its retries, or why it was refused at
once: undecodable, not a JSON object, refused by its contract, wrong envelope), then its
attempts, the exchange it first came through, its producer and content type, and its body.
Replayed messages go back through the subscribing service's redelivery exchange and start again
at attempt 1; handlers are idempotent, so replaying an event that did take effect is harmless. A
message refused for its envelope is refused again: replaying cannot launder a forged event.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import Any

from amqp.exceptions import NotFound as ChannelNotFound
from kombu import Connection, Producer

from deploy import credentials
from deploy.topology import service_subscriptions
from services.chassis.events import (
    ATTEMPT_HEADER,
    ERROR_HEADER,
    ORIGIN_HEADER,
    RAW_CONTENT_TYPE,
    queue_name,
    redelivery_exchange,
    subscriber_of,
)
from services.chassis.wire import PRODUCER_HEADER


def dead_queues() -> list[str]:
    """The dead-letter queue of every registered service's subscriptions, sorted."""
    return sorted(
        queue_name(sub.source_service, sub.event_type, service, method) + ".dead"
        for service, method, sub in service_subscriptions()
    )


def depth(conn: Connection, queue: str) -> int | None:
    """Messages waiting in ``queue``, or None when it does not exist (topology not declared)."""
    channel = conn.channel()
    try:
        _name, count, _consumers = channel.queue_declare(queue, passive=True)
        return int(count)
    except ChannelNotFound:
        return None
    finally:
        with contextlib.suppress(Exception):
            channel.close()


def peek(conn: Connection, queue: str, limit: int) -> list[dict[str, Any]]:
    """Read up to ``limit`` parked messages without removing them."""
    channel = conn.channel()
    seen: list[dict[str, Any]] = []
    held = []
    try:
        for _ in range(limit):
            message = channel.basic_get(queue, no_ack=False)
            if message is None:
                break
            held.append(message)
            seen.append(
                {
                    "headers": dict(message.headers or {}),
                    "body": message.body,
                    "content_type": message.properties.get("content_type"),
                }
            )
    finally:
        for message in held:
            channel.basic_reject(message.delivery_tag, requeue=True)
        channel.close()
    return seen


def describe(item: dict[str, Any]) -> str:
    """What ``show`` prints for one parked message: the reason first, then where it came from."""
    headers = item["headers"]
    body = item["body"]
    text = body.decode("utf-8", "backslashreplace") if isinstance(body, bytes) else str(body)
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:500])
    return (
        f"reason: {headers.get(ERROR_HEADER, '(none recorded)')}\n"
        f"  attempts {headers.get(ATTEMPT_HEADER, 1)}, came through {headers.get(ORIGIN_HEADER, '?')!r},"
        f" producer {headers.get(PRODUCER_HEADER, '?')!r}, content type {item.get('content_type')!r}\n"
        f"  body: {text}"
    )


def replay(conn: Connection, queue: str, *, progress: Callable[[int], None] | None = None) -> int:
    """Move the messages parked in ``queue``.dead when it starts back to ``queue``; returns how
    many moved.

    At most as many as were parked at the start: one that its handler refuses again while the
    replay runs is parked again behind the others and stays there. Taking whatever the queue held
    next moved such a message a second time (a test saw "replayed 2" of one parked message when
    the machine was busy), and a handler quicker than the loop would have had it go round for ever.

    ``progress(moved_so_far)`` is called after each message (the command line's progress bar).
    """
    live = queue.removesuffix(".dead")
    parked = depth(conn, f"{live}.dead") or 0
    channel = conn.channel()
    producer = Producer(channel, exchange=redelivery_exchange(subscriber_of(live)))
    moved = 0
    try:
        while moved < parked:
            message = channel.basic_get(f"{live}.dead", no_ack=False)
            if message is None:
                break
            headers = {
                k: v for k, v in (message.headers or {}).items() if k not in (ATTEMPT_HEADER, ERROR_HEADER)
            }
            producer.publish(
                message.body,
                routing_key=live,
                headers=headers,
                content_type=message.properties.get("content_type") or RAW_CONTENT_TYPE,
                content_encoding=message.properties.get("content_encoding") or "binary",
                delivery_mode=2,
            )
            channel.basic_ack(message.delivery_tag)
            moved += 1
            if progress is not None:
                progress(moved)
    finally:
        channel.close()
    return moved


def main(argv: list[str]) -> int:
    amqp_uri = credentials.default_amqp_uri()
    with Connection(amqp_uri) as conn:
        if argv[:1] == ["list"]:
            for name in dead_queues():
                count = depth(conn, name)
                print(f"{'missing' if count is None else count:>8}  {name}")
            return 0
        if argv[:1] == ["show"] and len(argv) >= 2:
            if depth(conn, argv[1].removesuffix(".dead") + ".dead") is None:
                print(f"no such dead-letter queue: {argv[1]}", file=sys.stderr)
                return 1
            limit = int(argv[2]) if len(argv) > 2 else 10
            for item in peek(conn, argv[1].removesuffix(".dead") + ".dead", limit):
                print(describe(item))
            return 0
        if argv[:1] == ["replay"] and len(argv) == 2:
            live = argv[1].removesuffix(".dead")
            if depth(conn, live) is None or depth(conn, f"{live}.dead") is None:
                print(f"no such subscription queue: {live} (see `dlq list`)", file=sys.stderr)
                return 1
            print(f"replayed {replay(conn, argv[1])} messages")
            return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
