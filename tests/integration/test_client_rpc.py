"""helpdesk_client against real nameko services on a real RabbitMQ (a fresh vhost per test).

Runs under the root conftest's eventlet monkey patching: the client's pika
BlockingConnection waits in eventlet's green ``select``, so the containers started in
this same process keep serving while the client blocks.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import eventlet
import pika
import pytest
from nameko.events import EventDispatcher
from nameko.exceptions import MethodNotFound

from helpdesk_client import Event, HelpdeskClient
from helpdesk_client.wire import RPC_EXCHANGE, build_request, decode_reply
from services.chassis.errors import (
    DeadlineExceeded,
    ServiceUnavailable,
    Unauthenticated,
    ValidationFailed,
)
from services.chassis.identity import Caller, sign
from services.chassis.rpc import CurrentCaller, require_caller, rpc
from tests.conftest import IDENTITY_SECRET

pytestmark = pytest.mark.broker

RUNS: list[str] = []
"""What the test service actually executed (the containers run in this process)."""


class ClientTestService:
    """A small service on the chassis' ``rpc``: identity and deadline checked before work."""

    name = "client_test"
    caller = CurrentCaller()
    dispatch = EventDispatcher()

    @rpc
    def whoami(self) -> dict[str, Any]:
        caller = require_caller(self.caller)
        RUNS.append("whoami")
        return {"user_id": caller.user_id, "name": caller.name}

    @rpc
    def record(self, label: str) -> str:
        RUNS.append(label)
        return label

    @rpc
    def slow(self, seconds: float) -> str:
        eventlet.sleep(seconds)
        RUNS.append("slow")
        return "done"

    @rpc
    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        RUNS.append("create")
        if not body.get("name"):
            raise ValidationFailed(
                "The ticket is not valid.", errors={"name": ["Missing data for required field."]}
            )
        return body

    @rpc(public=True)
    def ping(self) -> str:
        RUNS.append("ping")
        return "pong"

    @rpc
    def announce(self, event_type: str, payload: dict[str, Any]) -> None:
        self.dispatch(event_type, payload)


class FakePermissions:
    """Stands in for the permissions service: exchanges ``good-token`` for a signed identity."""

    name = "permissions"

    @rpc(public=True)
    def authenticate(self, token: str) -> dict[str, Any]:
        if token != "good-token":
            raise Unauthenticated("The API token is not valid.")
        caller = Caller(user_id=11, name="grace", access_level="everything")
        return {"identity": sign(caller, IDENTITY_SECRET, 60.0), "user_id": 11, "ttl": 60.0}


@pytest.fixture
def start(vhost_uri: str, container_factory: Any) -> Callable[..., Any]:
    """``start(ServiceClass, **config)`` runs a container on the test's vhost."""
    RUNS.clear()

    def starter(service_cls: type, **extra: Any) -> Any:
        config = {"AMQP_URI": vhost_uri, "IDENTITY_SECRET": IDENTITY_SECRET, **extra}
        container = container_factory(service_cls, config)
        container.start()
        return container

    return starter


@pytest.fixture
def service(start: Callable[..., Any]) -> Any:
    return start(ClientTestService)


@pytest.fixture
def client(vhost_uri: str) -> Iterator[HelpdeskClient]:
    identity = sign(Caller(user_id=42, name="ada", access_level="everything"), IDENTITY_SECRET, 60.0)
    with HelpdeskClient(vhost_uri, identity=identity, timeout=3.0) as c:
        yield c


def test_a_call_with_a_signed_identity_succeeds(service: Any, client: HelpdeskClient) -> None:
    assert client.call("client_test", "whoami") == {"user_id": 42, "name": "ada"}
    assert client.service("client_test").record(label="x") == "x"
    assert RUNS == ["whoami", "x"]


def test_a_token_is_exchanged_for_an_identity(start: Callable[..., Any], vhost_uri: str) -> None:
    start(ClientTestService)
    start(FakePermissions)
    with HelpdeskClient(vhost_uri, token="good-token") as client:
        assert client.service("client_test").whoami() == {"user_id": 11, "name": "grace"}
        assert client.user_id == 11
    with HelpdeskClient(vhost_uri, token="bad-token") as client, pytest.raises(Unauthenticated):
        client.call("client_test", "whoami")


def test_no_identity_is_unauthenticated_and_nothing_runs(service: Any, vhost_uri: str) -> None:
    with HelpdeskClient(vhost_uri) as anonymous:
        with pytest.raises(Unauthenticated):
            anonymous.call("client_test", "record", "should not run")
        assert anonymous.call("client_test", "ping") == "pong"  # public methods need none
    assert RUNS == ["ping"]


def test_a_forged_identity_is_unauthenticated(service: Any, vhost_uri: str) -> None:
    forged = sign(Caller(user_id=1, permissions=frozenset({"super_admin"})), "not-the-secret", 60.0)
    with HelpdeskClient(vhost_uri, identity=forged) as client, pytest.raises(Unauthenticated):
        client.call("client_test", "record", "forged")
    assert RUNS == []


def _raw_call(uri: str, request_for: Callable[[str], Any], wait: float = 3.0) -> bytes | None:
    """Publish the request ``request_for(reply_key)`` builds; return the reply body or None."""
    connection = pika.BlockingConnection(pika.URLParameters(uri))
    try:
        channel = connection.channel()
        reply_key = uuid.uuid4().hex
        queue = channel.queue_declare("", exclusive=True).method.queue
        channel.queue_bind(queue, RPC_EXCHANGE, routing_key=reply_key)
        request = request_for(reply_key)
        channel.basic_publish(request.exchange, request.routing_key, request.body, request.properties)
        end = time.monotonic() + wait
        while time.monotonic() < end:
            _method, _props, body = channel.basic_get(queue, auto_ack=True)
            if body is not None:
                return bytes(body)
            connection.process_data_events(time_limit=0.05)
        return None
    finally:
        connection.close()


def test_a_request_whose_deadline_has_passed_is_refused_unrun(service: Any, vhost_uri: str) -> None:
    identity = sign(Caller(user_id=42), IDENTITY_SECRET, 60.0)
    now = time.time()

    def stale(reply_key: str) -> Any:
        # Deadline header one second ago, but a TTL long enough to reach the service: only the
        # service's own check can refuse it.
        return build_request(
            "client_test", "record", ("stale",), {},
            reply_to=reply_key, deadline=now - 1.0, now=now - 10.0, identity=identity,
        )  # fmt: skip

    body = _raw_call(vhost_uri, stale)
    assert body is not None
    with pytest.raises(DeadlineExceeded):
        decode_reply(body)
    eventlet.sleep(0.2)
    assert RUNS == []


def test_a_call_queued_past_its_deadline_raises_and_never_runs(
    start: Callable[..., Any], vhost_uri: str, client: HelpdeskClient
) -> None:
    start(ClientTestService, max_workers=1)
    identity = client.identity
    busy = eventlet.spawn(
        lambda: HelpdeskClient(vhost_uri, identity=identity).call("client_test", "slow", 3.0)
    )
    eventlet.sleep(0.2)  # the only worker is now busy for ~2.8 s more
    began = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        client.service("client_test", timeout=0.3).record("late")
    assert 0.25 < time.monotonic() - began < 2.0, "at its deadline, not when the worker was free"
    assert busy.wait() == "done"
    eventlet.sleep(0.3)
    assert RUNS == ["slow"]  # "late" expired in the queue and was never executed
    assert client.call("client_test", "record", "after") == "after"


def test_remote_validation_failed_arrives_as_validation_failed(service: Any, client: HelpdeskClient) -> None:
    with pytest.raises(ValidationFailed) as info:
        client.call("client_test", "create", {"name": ""})
    assert info.value.errors == {"name": ["Missing data for required field."]}
    assert info.value.detail == "The ticket is not valid."
    assert client.call("client_test", "create", {"name": "ok"}) == {"name": "ok"}


def test_an_unknown_method_is_method_not_found(service: Any, client: HelpdeskClient) -> None:
    with pytest.raises(MethodNotFound):
        client.call("client_test", "no_such_method")


def test_a_service_nobody_runs_is_service_unavailable_at_once(service: Any, client: HelpdeskClient) -> None:
    began = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        client.call("nobody_home", "anything")
    assert time.monotonic() - began < 2.0, "at once, not at the client's 3 s deadline"
    assert client.call("client_test", "record", "still fine") == "still fine"


def test_direct_reply_to_never_sees_a_nameko_reply(service: Any, vhost_uri: str) -> None:
    """Why the client binds its own reply queue: nameko replies through ``nameko-rpc``.

    RabbitMQ delivers to ``amq.rabbitmq.reply-to`` only what is published to the default
    exchange; nameko's responder publishes the reply to ``nameko-rpc``, where it is dropped.
    """
    connection = pika.BlockingConnection(pika.URLParameters(vhost_uri))
    try:
        channel = connection.channel()
        replies: list[bytes] = []
        channel.basic_consume(
            "amq.rabbitmq.reply-to", lambda _ch, _m, _p, body: replies.append(body), auto_ack=True
        )
        request = build_request(
            "client_test",
            "ping",
            (),
            {},
            reply_to="amq.rabbitmq.reply-to",
            deadline=time.time() + 5,
            now=time.time(),
        )
        channel.basic_publish(request.exchange, request.routing_key, request.body, request.properties)
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            connection.process_data_events(time_limit=0.1)
    finally:
        connection.close()
    assert RUNS == ["ping"]  # the service ran and answered...
    assert replies == []  # ...but the answer never arrived


def test_a_durable_subscription_keeps_events_until_consumed(service: Any, client: HelpdeskClient) -> None:
    received: list[Event] = []
    queue = f"client-test-{uuid.uuid4().hex[:8]}"
    sub = client.subscribe("client_test", ["thing_done", "thing_undone"], queue, received.append)
    try:
        # Published while nobody consumes: the durable queue keeps them.
        client.call("client_test", "announce", "thing_done", {"event_id": "e-1", "n": 1})
        client.call("client_test", "announce", "ignored_type", {"event_id": "e-2"})
        client.call("client_test", "announce", "thing_undone", {"event_id": "e-3", "n": 3})
        assert sub.run(max_events=2, time_limit=5.0) == 2
    finally:
        sub.close()
    assert [(e.event_type, e.event_id, e.payload.get("n")) for e in received] == [
        ("thing_done", "e-1", 1),
        ("thing_undone", "e-3", 3),
    ]
    again = client.subscribe("client_test", ["thing_done"], queue, received.append)
    try:
        assert again.run(time_limit=0.5) == 0  # acked events are gone for good
    finally:
        again.close()


@pytest.mark.parametrize("queue_type", ["classic", "quorum"])
def test_a_failing_subscriber_parks_the_event_in_the_dead_queue(
    service: Any, client: HelpdeskClient, vhost_uri: str, rabbit: dict[str, Any], queue_type: str
) -> None:
    attempts: list[bool] = []

    def flaky(event: Event) -> None:
        attempts.append(event.redelivered)
        raise RuntimeError("downstream is down")

    queue = f"client-test-{uuid.uuid4().hex[:8]}"
    sub = client.subscribe("client_test", "thing_done", queue, flaky, queue_type=queue_type)
    try:
        client.call("client_test", "announce", "thing_done", {"event_id": "e-9"})
        sub.run(time_limit=1.0)
    finally:
        sub.close()
    assert attempts == [False, True]
    connection = pika.BlockingConnection(pika.URLParameters(vhost_uri))
    try:
        _method, properties, body = connection.channel().basic_get(queue + ".dead", auto_ack=True)
    finally:
        connection.close()
    assert body is not None and json.loads(body)["event_id"] == "e-9"
    assert properties.headers["x-death"][0]["reason"] == "rejected"
    assert declared_kind(rabbit, vhost_uri, queue) == queue_type
    assert declared_kind(rabbit, vhost_uri, queue + ".dead") == queue_type


def declared_kind(rabbit: dict[str, Any], vhost_uri: str, queue: str) -> str:
    """The kind of ``queue`` as the broker's management API reports it."""
    vhost = urlsplit(vhost_uri).path.lstrip("/")  # already quoted
    request = urllib.request.Request(
        f"http://{rabbit['host']}:{rabbit['mgmt_port']}/api/queues/{vhost}/{queue}",
        headers={"Authorization": "Basic " + base64.b64encode(b"guest:guest").decode()},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return str(json.loads(answer.read())["type"])


def test_a_connection_the_broker_dropped_while_idle_is_replaced(service: Any, vhost_uri: str) -> None:
    identity = sign(Caller(user_id=42), IDENTITY_SECRET, 60.0)
    # heartbeat=1: an idle blocking connection misses its heartbeats and the broker closes it.
    with HelpdeskClient(f"{vhost_uri}?heartbeat=1", identity=identity) as client:
        assert client.call("client_test", "record", "before") == "before"
        first = client._connection
        time.sleep(4)
        assert client.call("client_test", "record", "after") == "after"
        assert client._connection is not first
    assert RUNS == ["before", "after"]
