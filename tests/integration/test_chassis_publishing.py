"""services.chassis.publishing on a real broker: BatchPublisher and its bookkeeping of confirmations;
HeldPublisher's single messages (properties kept, an unroutable mandatory one refused, one per
settings in a process)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from kombu import Connection, Exchange, Queue
from nameko.amqp.publish import UndeliverableMessage

from services.chassis.publishing import BatchPublisher, HeldPublisher, Outgoing
from tests.conftest import free_port

EXCHANGE = Exchange("batch.events", type="topic", durable=True)


def _drain(uri: str, queue: Queue, count: int, timeout: float = 10.0) -> list[Any]:
    """Up to ``count`` messages from ``queue``, polling until ``timeout``."""
    got: list[Any] = []
    deadline = time.monotonic() + timeout
    with Connection(uri) as conn:
        bound = queue(conn.channel())
        while len(got) < count and time.monotonic() < deadline:
            message = bound.get(no_ack=True)
            if message is None:
                time.sleep(0.05)
            else:
                got.append(message)
    return got


def test_a_batch_is_confirmed_whole_and_arrives_in_order_as_json_persistent(vhost_uri: str) -> None:
    queue = Queue("batch.q", exchange=EXCHANGE, routing_key="#", durable=True)
    with Connection(vhost_uri) as conn:
        queue(conn.channel()).declare()
    publisher = BatchPublisher(vhost_uri, EXCHANGE)
    try:
        batch = [Outgoing(f"thing_{n % 2}", {"n": n}, {"event_id": f"e{n}"}) for n in range(40)]
        assert publisher.publish(batch) == list(range(40))
        assert publisher.publish(batch[:3]) == [0, 1, 2], "a second batch on the same channel"
    finally:
        publisher.close()
    got = _drain(vhost_uri, queue, 43)
    assert [m.payload["n"] for m in got] == [*range(40), 0, 1, 2]
    first = got[0]
    assert first.content_type == "application/json"
    assert first.properties["delivery_mode"] == 2
    assert first.headers == {"event_id": "e0"}
    assert first.delivery_info["routing_key"] == "thing_0"


def test_an_unreachable_broker_raises_instead_of_reporting_anything_sent() -> None:
    publisher = BatchPublisher(f"amqp://guest:guest@127.0.0.1:{free_port()}/", EXCHANGE, confirm_timeout=1)
    with pytest.raises(Exception):  # noqa: B017 - whatever kombu raises for a refused connection
        publisher.publish([Outgoing("x", {}, {})])
    assert publisher.publish([]) == []


RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1}


def test_a_held_publisher_sends_each_message_with_its_properties(vhost_uri: str) -> None:
    queue = Queue("held.q", exchange=EXCHANGE, routing_key="held.#", durable=False, auto_delete=False)
    with Connection(vhost_uri) as conn:
        queue(conn.channel()).declare()
    publisher = HeldPublisher(vhost_uri, confirms=True, retry_policy=RETRY)
    for n in range(3):
        publisher.publish(
            {"n": n},
            exchange=EXCHANGE,
            routing_key=f"held.{n}",
            mandatory=True,
            headers={"h": n},
            correlation_id=f"c{n}",
            reply_to="back",
            expiration=30.0,
        )
    got = _drain(vhost_uri, queue, 3)
    assert [m.payload for m in got] == [{"n": 0}, {"n": 1}, {"n": 2}]
    first = got[0]
    assert first.headers == {"h": 0} and first.content_type == "application/json"
    assert first.properties["correlation_id"] == "c0" and first.properties["reply_to"] == "back"
    assert first.properties["expiration"] == "30000" and first.properties["delivery_mode"] == 2


def test_a_held_publisher_refuses_a_mandatory_message_no_queue_takes(vhost_uri: str) -> None:
    publisher = HeldPublisher(vhost_uri, confirms=True, retry_policy=RETRY)
    with Connection(vhost_uri) as conn:
        EXCHANGE(conn.channel()).declare()
    with pytest.raises(UndeliverableMessage):
        publisher.publish({}, exchange=EXCHANGE, routing_key="nobody.listens", mandatory=True)
    publisher.publish({}, exchange=EXCHANGE, routing_key="nobody.listens")  # not mandatory: dropped


def test_held_publishers_are_shared_per_uri_and_settings() -> None:
    a = HeldPublisher.shared("amqp://h:1/", confirms=False, retry_policy=RETRY)
    assert HeldPublisher.shared("amqp://h:1/", confirms=False, retry_policy=dict(RETRY)) is a
    assert HeldPublisher.shared("amqp://h:1/", confirms=True, retry_policy=RETRY) is not a
    assert HeldPublisher.shared("amqp://h:2/", confirms=False, retry_policy=RETRY) is not a


class _FakeProducer:
    """Stands in for the channel: each publish is given the next tag; ``script`` says, after which
    publish, which confirmations the broker sends (``("ack"|"nack", tag, multiple)``)."""

    def __init__(self, publisher: BatchPublisher, script: dict[int, list[tuple[str, int, bool]]]) -> None:
        self.publisher = publisher
        self.script = script
        self.count = 0

    def publish(self, *_args: Any, **_kwargs: Any) -> None:
        self.count += 1
        for kind, tag, multiple in self.script.get(self.count, []):
            (self.publisher._on_ack if kind == "ack" else self.publisher._on_nack)(tag, multiple)


class _SilentConnection:
    def drain_events(self, timeout: float) -> None:
        raise TimeoutError

    def release(self) -> None:
        pass


def _scripted(script: dict[int, list[tuple[str, int, bool]]]) -> BatchPublisher:
    publisher = BatchPublisher("amqp://unused", EXCHANGE, confirm_timeout=0.05)
    producer = _FakeProducer(publisher, script)
    publisher._producer = producer
    publisher._connection = _SilentConnection()
    return publisher


def test_only_what_the_broker_acknowledged_counts_as_sent() -> None:
    # tags 1-3 by one multiple ack, 4 refused, 5 never confirmed
    publisher = _scripted({3: [("ack", 3, True)], 4: [("nack", 4, False)]})
    batch = [Outgoing("k", {"n": n}, {}) for n in range(5)]
    assert publisher.publish(batch) == [0, 1, 2]
    assert publisher._producer is None, "an incomplete batch drops the channel"


def test_a_multiple_nack_refuses_only_what_was_not_acknowledged_before() -> None:
    publisher = _scripted({1: [("ack", 1, False)], 3: [("nack", 3, True)]})
    assert publisher.publish([Outgoing("k", {}, {})] * 3) == [0]
