"""services.chassis.publishing on a real broker: BatchPublisher and its bookkeeping of confirmations;
HeldPublisher's single messages (properties kept, written again on a new connection when the held
one broke, one per settings in a process)."""

from __future__ import annotations

import socket
import time
from typing import Any

import eventlet
import pytest
from kombu import Connection, Exchange, Queue

from deploy.ports import free_port
from services.chassis.publishing import TRANSIENT, BatchPublisher, HeldPublisher, Outgoing

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


def _declared(uri: str, queue: Queue) -> Queue:
    """``queue``, declared on the broker at ``uri``."""
    with Connection(uri) as conn:
        queue(conn.channel()).declare()
    return queue


def _count_writes(connection: Any) -> list[int]:
    """The sizes of the writes to ``connection``'s socket from now on (kombu's connection)."""
    transport = connection.connection.transport
    writes: list[int] = []
    real_write = transport._write

    def counted(data: bytes) -> None:
        writes.append(len(data))
        real_write(data)

    transport._write = counted
    return writes


def test_a_batch_is_confirmed_whole_and_arrives_in_order_as_json_persistent(vhost_uri: str) -> None:
    queue = _declared(vhost_uri, Queue("batch.q", exchange=EXCHANGE, routing_key="#", durable=True))
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


def test_a_batch_goes_out_in_one_write(vhost_uri: str) -> None:
    queue = _declared(
        vhost_uri, Queue("batch.one_write", exchange=EXCHANGE, routing_key="one.#", durable=True)
    )
    publisher = BatchPublisher(vhost_uri, EXCHANGE)
    try:
        assert publisher.publish([Outgoing("one.0", {"n": 0}, {})]) == [0]
        writes = _count_writes(publisher._connection)
        assert publisher.publish([Outgoing(f"one.{n}", {"n": n}, {}) for n in range(1, 8)]) == list(range(7))
        assert len(writes) == 1, "seven messages, three frames each, in one write"
    finally:
        publisher.close()
    assert [m.payload["n"] for m in _drain(vhost_uri, queue, 8)] == list(range(8))


def test_an_unreachable_broker_raises_instead_of_reporting_anything_sent() -> None:
    publisher = BatchPublisher(f"amqp://guest:guest@127.0.0.1:{free_port()}/", EXCHANGE, confirm_timeout=1)
    with pytest.raises(Exception):  # noqa: B017 - whatever kombu raises for a refused connection
        publisher.publish([Outgoing("x", {}, {})])
    assert publisher.publish([]) == []


def test_a_held_publisher_sends_each_message_with_its_properties(vhost_uri: str) -> None:
    queue = _declared(
        vhost_uri, Queue("held.q", exchange=EXCHANGE, routing_key="held.#", durable=False, auto_delete=False)
    )
    publisher = HeldPublisher(vhost_uri)
    for n in range(3):
        publisher.publish(
            {"n": n},
            exchange=EXCHANGE,
            routing_key=f"held.{n}",
            headers={"h": n},
            correlation_id=f"c{n}",
            reply_to="back",
            expiration=30.0,
        )
    publisher.publish_body(
        b'{"n": 3}',
        content_type="application/json",
        content_encoding="utf-8",
        exchange="batch.events",
        routing_key="held.3",
    )
    got = _drain(vhost_uri, queue, 4)
    assert [m.payload for m in got] == [{"n": 0}, {"n": 1}, {"n": 2}, {"n": 3}]
    first = got[0]
    assert first.headers == {"h": 0} and first.content_type == "application/json"
    assert first.properties["correlation_id"] == "c0" and first.properties["reply_to"] == "back"
    assert first.properties["expiration"] == "30000" and first.properties["delivery_mode"] == 2
    publisher.close()


def test_a_held_publisher_writes_again_on_a_new_connection_when_its_own_broke(vhost_uri: str) -> None:
    queue = _declared(
        vhost_uri,
        Queue("held.again", exchange=EXCHANGE, routing_key="again", durable=False, auto_delete=False),
    )
    publisher = HeldPublisher(vhost_uri, delivery_mode=TRANSIENT)
    publisher.publish({"n": 1}, exchange=EXCHANGE, routing_key="again")
    broken = publisher._connection
    broken.connection.sock.shutdown(socket.SHUT_RDWR)
    publisher.publish({"n": 2}, exchange=EXCHANGE, routing_key="again")
    assert publisher._connection is not broken, "the write on the broken connection failed over"
    got = _drain(vhost_uri, queue, 2)
    assert [m.payload for m in got] == [{"n": 1}, {"n": 2}]
    assert got[1].properties["delivery_mode"] == TRANSIENT
    publisher.close()


def test_held_publishes_of_one_turn_go_out_in_one_write_and_each_returns_once_written(vhost_uri: str) -> None:
    queue = _declared(
        vhost_uri, Queue("held.turn", exchange=EXCHANGE, routing_key="turn", durable=False, auto_delete=False)
    )
    publisher = HeldPublisher(vhost_uri, delivery_mode=TRANSIENT)
    publisher.publish({"n": 0}, exchange=EXCHANGE, routing_key="turn")
    writes = _count_writes(publisher._connection)
    returned: list[int] = []

    def reply(n: int) -> None:
        publisher.publish({"n": n}, exchange=EXCHANGE, routing_key="turn", correlation_id=f"c{n}")
        returned.append(len(writes))

    threads = [eventlet.spawn(reply, n) for n in (1, 2, 3)]
    for thread in threads:
        thread.wait()
    assert len(writes) == 1, "three replies of one turn, one write"
    assert returned == [1, 1, 1], "each publish returned after the write that carried it"
    got = _drain(vhost_uri, queue, 4)
    assert [m.payload["n"] for m in got] == [0, 1, 2, 3]
    assert [m.properties.get("correlation_id") for m in got[1:]] == ["c1", "c2", "c3"]
    publisher.close()


def test_held_publishes_of_one_turn_all_raise_when_their_write_fails() -> None:
    publisher = HeldPublisher(f"amqp://guest:guest@127.0.0.1:{free_port()}/", attempts=1)
    outcomes: list[str] = []

    def reply(n: int) -> None:
        try:
            publisher.publish({"n": n}, exchange=EXCHANGE, routing_key="x")
            outcomes.append("written")
        except OSError:
            outcomes.append("raised")

    threads = [eventlet.spawn(reply, n) for n in range(3)]
    for thread in threads:
        thread.wait()
    assert outcomes == ["raised"] * 3


def test_a_held_publisher_raises_after_its_attempts_when_no_broker_answers() -> None:
    publisher = HeldPublisher(f"amqp://guest:guest@127.0.0.1:{free_port()}/", attempts=2)
    with pytest.raises(OSError):
        publisher.publish({}, exchange=EXCHANGE, routing_key="x")
    assert publisher._connection is None


def test_held_publishers_are_shared_per_uri_and_settings() -> None:
    a = HeldPublisher.shared("amqp://h:1/", attempts=3)
    assert HeldPublisher.shared("amqp://h:1/", attempts=3) is a
    assert HeldPublisher.shared("amqp://h:1/", attempts=2) is not a
    assert HeldPublisher.shared("amqp://h:1/", delivery_mode=TRANSIENT) is not a
    assert HeldPublisher.shared("amqp://h:2/", attempts=3) is not a


class _FakeProducer:
    """Stands in for the channel: each publish is given the next tag; ``script`` says, after which
    publish, which confirmations the broker sends (``("ack"|"nack", tag, multiple)``)."""

    channel = None  # no transport to cork: each publish "goes out" as it is made

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
    publisher._producer = producer  # type: ignore[assignment]
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
