"""HelpdeskClient and Subscription against a fake pika connection (no broker)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pika
import pika.exceptions
import pytest
from nameko.exceptions import serialize

from helpdesk_client import Event, HelpdeskClient
from services.chassis.errors import (
    DeadlineExceeded,
    ServiceUnavailable,
    Unauthenticated,
    ValidationFailed,
)

Responder = Callable[[str, dict[str, Any], dict[str, Any]], Any]
"""``responder(routing_key, body, headers)`` -> reply body (bytes), None (no reply), or raises."""


def ok(result: Any) -> bytes:
    return json.dumps({"result": result, "error": None}).encode()


def failed(error: Exception) -> bytes:
    return json.dumps({"result": None, "error": serialize(error)}).encode()


class FakeChannel:
    """Records what the client declares and publishes; answers through the consumer callback."""

    def __init__(self, connection: FakeConnection) -> None:
        self.connection = connection
        self.is_open = True
        self.declared: list[tuple[str, str, dict[str, Any]]] = []
        self.consumers: dict[str, Any] = {}
        self.acks: list[int] = []
        self.nacks: list[tuple[int, bool]] = []
        self.confirms = False

    def confirm_delivery(self) -> None:
        self.confirms = True

    def exchange_declare(self, exchange: str, **kwargs: Any) -> None:
        self.declared.append(("exchange", exchange, kwargs))

    def queue_declare(self, queue: str, **kwargs: Any) -> None:
        self.declared.append(("queue", queue, kwargs))

    def queue_bind(self, queue: str, exchange: str, routing_key: str) -> None:
        self.declared.append(("bind", queue, {"exchange": exchange, "routing_key": routing_key}))

    def basic_qos(self, prefetch_count: int) -> None:
        self.declared.append(("qos", "", {"prefetch_count": prefetch_count}))

    def basic_consume(self, queue: str, callback: Any, auto_ack: bool) -> None:
        self.consumers[queue] = (callback, auto_ack)

    def basic_ack(self, tag: int) -> None:
        self.acks.append(tag)

    def basic_nack(self, tag: int, requeue: bool) -> None:
        self.nacks.append((tag, requeue))

    def basic_publish(
        self, exchange: str, routing_key: str, body: bytes, properties: Any, mandatory: bool = False
    ) -> None:
        self.connection.published.append(
            {
                "exchange": exchange,
                "routing_key": routing_key,
                "body": json.loads(body),
                "properties": properties,
                "mandatory": mandatory,
            }
        )
        reply = self.connection.responder(routing_key, json.loads(body), properties.headers)
        if reply is not None:
            self.connection.inbox.append((properties.correlation_id, reply))


class FakeConnection:
    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.published: list[dict[str, Any]] = []
        self.inbox: list[tuple[str, bytes]] = []
        self.is_open = True
        self.channels: list[FakeChannel] = []
        self.fail_next_poll: Exception | None = None
        self.closed = False

    def channel(self) -> FakeChannel:
        self.channels.append(FakeChannel(self))
        return self.channels[-1]

    def process_data_events(self, time_limit: float = 0) -> None:
        if self.fail_next_poll is not None:
            error, self.fail_next_poll = self.fail_next_poll, None
            self.is_open = False
            raise error
        if not self.inbox:
            time.sleep(min(time_limit, 0.005))
            return
        channel = self.channels[-1]
        ((callback, _auto_ack),) = channel.consumers.values()
        while self.inbox:
            correlation_id, body = self.inbox.pop(0)
            callback(channel, None, SimpleNamespace(correlation_id=correlation_id), body)

    def close(self) -> None:
        self.is_open = False
        self.closed = True


class Suite:
    """A fake broker + services: permissions.authenticate and whatever ``handlers`` answer."""

    def __init__(self, ttl: float = 300.0) -> None:
        self.ttl = ttl
        self.authentications = 0
        self.handlers: dict[str, Callable[..., Any]] = {}
        self.connections: list[FakeConnection] = []

    def respond(self, routing_key: str, body: dict[str, Any], headers: dict[str, Any]) -> Any:
        if routing_key == "permissions.authenticate":
            self.authentications += 1
            if body["args"] != ["good-token"]:
                return failed(Unauthenticated("The API token is not valid."))
            return ok({"identity": f"identity-{self.authentications}", "user_id": 7, "ttl": self.ttl})
        handler = self.handlers.get(routing_key)
        if handler is None:
            raise pika.exceptions.UnroutableError([])
        return handler(*body["args"], headers=headers, **body["kwargs"])

    def factory(self, _uri: str) -> FakeConnection:
        self.connections.append(FakeConnection(self.respond))
        return self.connections[-1]

    def client(self, **kwargs: Any) -> HelpdeskClient:
        kwargs.setdefault("token", "good-token")
        return HelpdeskClient("amqp://fake/", connection_factory=self.factory, **kwargs)

    @property
    def published(self) -> list[dict[str, Any]]:
        return [p for c in self.connections for p in c.published]


@pytest.fixture
def suite() -> Suite:
    s = Suite()
    s.handlers["tickets.get_ticket"] = lambda ticket_id, headers: ok(
        {"id": ticket_id, "as": headers.get("nameko.identity")}
    )
    return s


def test_a_call_authenticates_once_then_carries_the_identity(suite: Suite) -> None:
    client = suite.client()
    assert client.call("tickets", "get_ticket", 5) == {"id": 5, "as": "identity-1"}
    assert client.service("tickets").get_ticket(ticket_id=6) == {"id": 6, "as": "identity-1"}
    assert suite.authentications == 1
    assert client.user_id == 7 and client.identity == "identity-1"
    auth, first, _second = suite.published
    assert "nameko.identity" not in auth["properties"].headers
    assert first["routing_key"] == "tickets.get_ticket" and first["mandatory"] is True
    assert first["properties"].headers["nameko.identity"] == "identity-1"


def test_the_client_declares_a_private_reply_queue_bound_to_nameko_rpc_with_confirms(suite: Suite) -> None:
    client = suite.client()
    client.call("tickets", "get_ticket", 1)
    channel = suite.connections[0].channels[0]
    assert channel.confirms
    ((queue, (_callback, auto_ack)),) = channel.consumers.items()
    assert auto_ack
    reply_key = suite.published[0]["properties"].reply_to
    assert ("bind", queue, {"exchange": "nameko-rpc", "routing_key": reply_key}) in channel.declared
    assert ("queue", queue, {"exclusive": True, "auto_delete": True}) in channel.declared


def test_the_deadline_travels_as_header_and_ttl(suite: Suite) -> None:
    client = suite.client(timeout=2.0)
    before = time.time()
    client.call("tickets", "get_ticket", 1)
    props = suite.published[-1]["properties"]
    deadline = props.headers["nameko.deadline"]
    assert before + 2.0 <= deadline <= time.time() + 2.0
    assert 1000 < int(props.expiration) <= 2000


def test_the_identity_is_renewed_before_it_expires() -> None:
    suite = Suite(ttl=0.1)  # renewed after half its TTL
    suite.handlers["tickets.get_ticket"] = lambda ticket_id, headers: ok(headers["nameko.identity"])
    client = suite.client()
    assert client.call("tickets", "get_ticket", 1) == "identity-1"
    assert client.call("tickets", "get_ticket", 1) == "identity-1"
    time.sleep(0.06)
    assert client.call("tickets", "get_ticket", 1) == "identity-2"


def test_a_rejected_identity_is_renewed_on_the_next_call(suite: Suite) -> None:
    rejected = iter([True, False])
    suite.handlers["tickets.get_ticket"] = lambda ticket_id, headers: (
        failed(Unauthenticated("The caller identity has expired.")) if next(rejected) else ok("fine")
    )
    client = suite.client()
    with pytest.raises(Unauthenticated):
        client.call("tickets", "get_ticket", 1)
    assert client.call("tickets", "get_ticket", 1) == "fine"
    assert suite.authentications == 2


def test_a_bad_token_raises_unauthenticated(suite: Suite) -> None:
    with pytest.raises(Unauthenticated):
        suite.client(token="stolen").call("tickets", "get_ticket", 1)


def test_a_fixed_identity_is_sent_as_is_and_never_exchanged(suite: Suite) -> None:
    client = suite.client(token=None, identity="pre-signed")
    assert client.call("tickets", "get_ticket", 3) == {"id": 3, "as": "pre-signed"}
    assert suite.authentications == 0


def test_without_token_or_identity_calls_carry_no_identity(suite: Suite) -> None:
    client = suite.client(token=None)
    assert client.call("tickets", "get_ticket", 3) == {"id": 3, "as": None}


def test_token_and_identity_together_are_refused() -> None:
    with pytest.raises(ValueError):
        HelpdeskClient("amqp://fake/", token="t", identity="i")


def test_remote_validation_failed_arrives_with_its_errors(suite: Suite) -> None:
    suite.handlers["tickets.create_ticket"] = lambda body, headers: failed(
        ValidationFailed(errors={"name": ["Missing data for required field."]})
    )
    with pytest.raises(ValidationFailed) as info:
        suite.client().call("tickets", "create_ticket", {})
    assert info.value.errors == {"name": ["Missing data for required field."]}


def test_an_unroutable_request_is_service_unavailable_at_once(suite: Suite) -> None:
    began = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        suite.client(timeout=5.0).call("nobody", "home")
    assert time.monotonic() - began < 1.0


def test_a_nacked_request_is_service_unavailable(suite: Suite) -> None:
    def nack(**_: Any) -> None:
        raise pika.exceptions.NackError([])

    suite.handlers["tickets.close"] = nack
    client = suite.client()
    with pytest.raises(ServiceUnavailable):
        client.call("tickets", "close")
    # RabbitMQ 3.10 keeps refusing mandatory requests to a quorum queue on a channel that met the
    # queue's leader election: the next call goes out on a new connection
    suite.handlers["tickets.close"] = lambda **_: ok(None)
    client.call("tickets", "close")
    assert len(suite.connections) == 2 and len(suite.connections[1].published) == 1


def test_no_answer_raises_deadline_exceeded_at_the_deadline(suite: Suite) -> None:
    suite.handlers["tickets.slow"] = lambda headers: None
    client = suite.client(token=None, timeout=0.3)
    began = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        client.call("tickets", "slow")
    assert 0.29 <= time.monotonic() - began < 2.0  # the upper bound leaves room for a busy machine


def test_a_late_reply_is_not_taken_for_the_next_calls_answer(suite: Suite) -> None:
    client = suite.client(token=None, timeout=0.05)
    suite.handlers["tickets.slow"] = lambda headers: None
    with pytest.raises(DeadlineExceeded):
        client.call("tickets", "slow")
    late_id = suite.published[-1]["properties"].correlation_id
    suite.connections[0].inbox.append((late_id, ok("late")))
    assert client.call("tickets", "get_ticket", 2) == {"id": 2, "as": None}


def test_a_per_service_timeout_overrides_the_clients(suite: Suite) -> None:
    suite.handlers["tickets.slow"] = lambda headers: None
    began = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        suite.client(token=None, timeout=5.0).service("tickets", timeout=0.05).slow()
    assert time.monotonic() - began < 2.0, "the client's 5 s, not the service's 0.05 s"


def test_an_unreachable_broker_is_service_unavailable() -> None:
    def refuse(_uri: str) -> Any:
        raise pika.exceptions.AMQPConnectionError("refused")

    with pytest.raises(ServiceUnavailable):
        HelpdeskClient("amqp://fake/", connection_factory=refuse).call("tickets", "get_ticket", 1)


def test_a_connection_lost_while_idle_is_replaced_before_publishing(suite: Suite) -> None:
    client = suite.client(token=None)
    client.call("tickets", "get_ticket", 1)
    suite.connections[0].fail_next_poll = pika.exceptions.StreamLostError("gone")
    assert client.call("tickets", "get_ticket", 2) == {"id": 2, "as": None}
    assert len(suite.connections) == 2
    assert len(suite.connections[1].published) == 1


def test_a_connection_lost_while_waiting_is_not_retried(suite: Suite) -> None:
    client = suite.client(token=None)
    client.call("tickets", "get_ticket", 1)
    connection = suite.connections[0]

    def lose_connection(headers: Any) -> None:
        connection.fail_next_poll = pika.exceptions.StreamLostError("gone")

    suite.handlers["tickets.once"] = lose_connection
    original = connection.process_data_events
    polls = iter([True])  # the idle check passes; the wait after publishing fails

    def poll(time_limit: float = 0) -> None:
        if next(polls, False):
            return
        original(time_limit)

    connection.process_data_events = poll  # type: ignore[method-assign]
    with pytest.raises(ServiceUnavailable):
        client.call("tickets", "once")
    assert [p["routing_key"] for p in suite.published].count("tickets.once") == 1
    assert client.call("tickets", "get_ticket", 2) == {"id": 2, "as": None}  # reconnects


def test_a_client_belongs_to_the_first_thread_that_uses_it(suite: Suite) -> None:
    client = suite.client(token=None)
    client.call("tickets", "get_ticket", 1)
    errors: list[BaseException] = []

    def other() -> None:
        try:
            client.call("tickets", "get_ticket", 2)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert len(errors) == 1 and isinstance(errors[0], RuntimeError)


def test_close_closes_the_connection_and_a_later_call_reopens(suite: Suite) -> None:
    with suite.client(token=None) as client:
        client.call("tickets", "get_ticket", 1)
    assert suite.connections[0].closed
    client.call("tickets", "get_ticket", 1)
    assert len(suite.connections) == 2


# -- subscriptions -------------------------------------------------------------------------


def deliver(
    channel: FakeChannel, body: bytes, tag: int, event_type: str = "ticket_created", redelivered: bool = False
) -> None:
    ((callback, auto_ack),) = channel.consumers.values()
    assert auto_ack is False
    method = SimpleNamespace(delivery_tag=tag, routing_key=event_type, redelivered=redelivered)
    callback(channel, method, SimpleNamespace(headers={"nameko.event_id": "e-1"}), body)


def test_subscribe_declares_a_durable_queue_with_a_dead_letter_queue(suite: Suite) -> None:
    sub = suite.client().subscribe("tickets", ["ticket_created", "ticket_closed"], "crm.tickets", print)
    channel = suite.connections[0].channels[0]
    assert ("exchange", "tickets.events", {"exchange_type": "topic", "durable": True}) in channel.declared
    assert ("queue", "crm.tickets.dead", {"durable": True, "arguments": {}}) in channel.declared
    dlx = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "crm.tickets.dead"}
    assert ("queue", "crm.tickets", {"durable": True, "arguments": dlx}) in channel.declared
    binds = [d for d in channel.declared if d[0] == "bind"]
    assert [b[2] for b in binds] == [
        {"exchange": "tickets.events", "routing_key": "ticket_created"},
        {"exchange": "tickets.events", "routing_key": "ticket_closed"},
    ]
    assert sub.dead_queue_name == "crm.tickets.dead"
    assert suite.authentications == 0  # subscribing needs no identity


def test_a_quorum_subscription_declares_quorum_queues_with_a_delivery_limit(suite: Suite) -> None:
    suite.client().subscribe("tickets", "ticket_created", "crm.q", print, queue_type="quorum")
    queues = {d[1]: d[2]["arguments"] for d in suite.connections[0].channels[0].declared if d[0] == "queue"}
    assert queues["crm.q.dead"] == {"x-queue-type": "quorum"}
    assert queues["crm.q"]["x-queue-type"] == "quorum" and queues["crm.q"]["x-delivery-limit"] == 10
    assert queues["crm.q"]["x-dead-letter-routing-key"] == "crm.q.dead"
    assert queues["crm.q"]["x-dead-letter-strategy"] == "at-least-once"


def test_an_event_is_acked_after_the_callback_returns(suite: Suite) -> None:
    seen: list[Event] = []

    def callback(event: Event) -> None:
        assert channel.acks == []  # not yet
        seen.append(event)

    suite.client().subscribe("tickets", "ticket_created", "q", callback)
    channel = suite.connections[0].channels[0]
    deliver(channel, b'{"event_id": "e-1", "ticket_id": 4}', tag=1)
    assert channel.acks == [1]
    assert seen[0].event_type == "ticket_created"
    assert seen[0].payload["ticket_id"] == 4 and seen[0].event_id == "e-1"


def test_a_failing_callback_gets_the_event_once_more_then_parks_it(suite: Suite) -> None:
    def callback(event: Event) -> None:
        raise RuntimeError("downstream is down")

    suite.client().subscribe("tickets", "ticket_created", "q", callback)
    channel = suite.connections[0].channels[0]
    deliver(channel, b'{"event_id": "e-1"}', tag=1)
    deliver(channel, b'{"event_id": "e-1"}', tag=2, redelivered=True)
    assert channel.nacks == [(1, True), (2, False)]
    assert channel.acks == []


def test_an_unreadable_event_is_parked_without_calling_back(suite: Suite) -> None:
    calls: list[Event] = []
    suite.client().subscribe("tickets", "ticket_created", "q", calls.append)
    channel = suite.connections[0].channels[0]
    deliver(channel, b"not json", tag=1)
    deliver(channel, b"[1]", tag=2)
    assert channel.nacks == [(1, False), (2, False)] and calls == []


def test_run_stops_at_max_events_or_time_limit(suite: Suite) -> None:
    sub = suite.client().subscribe("tickets", "ticket_created", "q", lambda event: None)
    channel = suite.connections[0].channels[0]
    connection = suite.connections[0]

    def poll(time_limit: float = 0) -> None:
        deliver(channel, b'{"event_id": "x"}', tag=len(channel.acks) + 1)

    connection.process_data_events = poll  # type: ignore[method-assign]
    assert sub.run(max_events=3) == 3
    connection.process_data_events = lambda time_limit=0: time.sleep(time_limit)  # type: ignore[method-assign]
    began = time.monotonic()
    assert sub.run(time_limit=0.1) == 0
    assert time.monotonic() - began < 2.0


def test_stop_from_the_callback_ends_run(suite: Suite) -> None:
    def callback(event: Event) -> None:
        sub.stop()

    sub = suite.client().subscribe("tickets", "ticket_created", "q", callback)
    channel = suite.connections[0].channels[0]
    suite.connections[0].process_data_events = (  # type: ignore[method-assign]
        lambda time_limit=0: deliver(channel, b'{"event_id": "x"}', tag=1)
    )
    assert sub.run() == 1
