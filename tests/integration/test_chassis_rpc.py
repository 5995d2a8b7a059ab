"""The chassis' RPC over a real RabbitMQ: deadlines and verified identities are enforced by the server.

Proves that

* a request whose deadline passed before a server picked it up is never executed, whether the
  broker drops it (message TTL) or it reaches the server late (a client that sets no TTL), and the
  caller gets ``DeadlineExceeded``;
* a nested call inherits the deadline of the request it serves, so work whose caller has given up
  is not started further down;
* a call without an identity, with one signed by another secret, with a tampered payload or an
  expired one, is refused with ``Unauthenticated`` before the method runs; ``@rpc(public=True)``
  needs none, and a genuine identity reaches the method as its ``CurrentCaller``;
* a malformed request gets a typed error and runs nothing, and the service keeps serving: a
  deadline that is not a number or a call-id stack that is not strings (``BadRequest``; nameko
  would have killed the container over the latter), an identity header that is not ASCII text
  (``Unauthenticated``), a body that is not JSON or not ``{"args": [...], "kwargs": {...}}``
  (``BadRequest``); a request without ``reply_to`` is dropped;
* requests and replies travel transient (a request is dead at its deadline: nothing a restarted
  broker could bring back would be waited for), requests with a TTL of their deadline;
* a caller's link whose reply queue stops receiving while its connection stays up (a binding gone
  with a broker node) notices by its own probe and reconnects on a new reply queue, and an idle
  link that receives its probes keeps its queue.

Each test has its own vhost; the tiny services below run in this process, so ``RUNS`` shows what
the servers really executed.
"""

from __future__ import annotations

import contextlib
import json
import pickle
import time
import uuid
from collections.abc import Callable
from typing import Any

import amqp
import eventlet
import pytest
import sqlalchemy as sa
from kombu import Connection, Consumer, Queue
from nameko.containers import ServiceContainer
from nameko.exceptions import deserialize
from nameko.extensions import DependencyProvider
from nameko.rpc import get_rpc_exchange
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.services import dummy, entrypoint_hook

from services.chassis import rpc as chassis_rpc
from services.chassis.db import STATEMENT_SLACK, Database
from services.chassis.errors import BadRequest, DeadlineExceeded, ServiceUnavailable, Unauthenticated
from services.chassis.identity import CONTEXT_KEY, Caller, sign
from services.chassis.rpc import DEADLINE_KEY, BrokerLink, CurrentCaller, ServiceRpc, require_caller, rpc
from tests.broker import wait_until
from tests.conftest import IDENTITY_SECRET

pytestmark = pytest.mark.broker

RUNS: list[tuple[str, Any]] = []
"""What the servers executed, in order."""

TARGET = "rpc_target"
RPC_EXCHANGE = get_rpc_exchange({})
MIDDLE = "rpc_middle"
NOBODY = "nobody_serves_this"


def identity(user_id: int = 7, secret: str = IDENTITY_SECRET, ttl: float = 60.0) -> str:
    return sign(Caller(user_id=user_id, name=f"user{user_id}", access_level="everything"), secret, ttl)


class RequestDeadline(DependencyProvider):
    """The deadline (context key ``deadline``) of the request a worker serves, or None."""

    def get_dependency(self, worker_ctx: Any) -> float | None:
        value = worker_ctx.data.get(DEADLINE_KEY)
        return None if value is None else float(value)


class Target:
    name = TARGET
    caller = CurrentCaller()
    deadline = RequestDeadline()

    @rpc
    def record(self, label: str) -> str:
        RUNS.append(("record", label))
        return label

    @rpc
    def whoami(self) -> int:
        caller = require_caller(self.caller)
        RUNS.append(("whoami", caller.user_id))
        return caller.user_id

    @rpc
    def deadline_seen(self) -> float | None:
        RUNS.append(("deadline_seen", self.deadline))
        return self.deadline

    @rpc(public=True)
    def ping(self) -> str:
        RUNS.append(("ping", None))
        return "pong"


class Middle:
    """Calls the target with a generous timeout of its own; only the inherited deadline limits it."""

    name = MIDDLE
    target = ServiceRpc(TARGET, timeout=30.0)

    @rpc
    def forward_deadline(self) -> float | None:
        return self.target.deadline_seen()

    @rpc
    def forward_after(self, delay: float, label: str) -> str:
        eventlet.sleep(delay)
        try:
            return self.target.record(label)
        except DeadlineExceeded:
            RUNS.append(("middle_saw_deadline", label))
            raise


class Sleeper:
    """Runs a slow statement in its database: what ``Database`` makes of an RPC's deadline."""

    name = "rpc_sleeper"
    db = Database()

    @rpc
    def sleep_in_db(self, seconds: float) -> str:
        began = time.monotonic()
        try:
            with self.db.read() as s:
                if s.get_bind().dialect.name == "postgresql":
                    s.execute(sa.text("SELECT pg_sleep(:s)"), {"s": seconds})
                else:  # SQLite counts some millions a second
                    s.execute(
                        sa.text(
                            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c"
                            " WHERE x < :n) SELECT count(*) FROM c"
                        ),
                        {"n": int(seconds * 5_000_000)},
                    )
        except DeadlineExceeded:
            RUNS.append(("db_ended", time.monotonic() - began))
            raise
        RUNS.append(("db_ran", time.monotonic() - began))
        return "slept"


class Client:
    """A caller on the chassis' client side (ServiceRpc through BrokerLink)."""

    name = "rpc_client"
    target = ServiceRpc(TARGET)
    middle = ServiceRpc(MIDDLE)
    sleeper = ServiceRpc(Sleeper.name)
    nobody = ServiceRpc(NOBODY)

    @dummy
    def call(self, service: str, method: str, timeout: float, *args: Any) -> Any:
        clients = {TARGET: self.target, MIDDLE: self.middle, Sleeper.name: self.sleeper, NOBODY: self.nobody}
        return getattr(clients[service].with_timeout(timeout), method)(*args)


@pytest.fixture
def start(vhost_uri: str, container_factory: Any) -> Callable[[type], ServiceContainer]:
    RUNS.clear()

    def starter(service_cls: type) -> ServiceContainer:
        container = container_factory(
            service_cls, {"AMQP_URI": vhost_uri, "IDENTITY_SECRET": IDENTITY_SECRET, "max_workers": 4}
        )
        container.start()
        return container

    return starter


def call(client: ServiceContainer, service: str, method: str, timeout: float, *args: Any) -> Any:
    with entrypoint_hook(client, "call", context_data={CONTEXT_KEY: identity()}) as hook:
        return hook(service, method, timeout, *args)


# -- deadlines ----------------------------------------------------------------


def test_call_that_expires_while_the_server_is_down_never_runs(start: Callable[[type], Any]) -> None:
    target = start(Target)
    client = start(Client)
    assert call(client, TARGET, "record", 5.0, "warm-up") == "warm-up"

    target.stop()  # its durable queue stays: a request now waits there
    began = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        call(client, TARGET, "record", 0.5, "expired")
    elapsed = time.monotonic() - began
    assert 0.4 <= elapsed < 3.0, f"the caller waited {elapsed:.2f}s for a 0.5s deadline"
    eventlet.sleep(0.3)

    start(Target)
    # FIFO: once a later request has been served, the expired one would have run before it.
    assert call(client, TARGET, "record", 5.0, "after-restart") == "after-restart"
    eventlet.sleep(0.3)
    assert [label for kind, label in RUNS if kind == "record"] == ["warm-up", "after-restart"]


def test_server_refuses_a_request_that_reaches_it_after_its_deadline(
    start: Callable[[type], Any], vhost_uri: str
) -> None:
    """A client that sets no message TTL (any AMQP client can): the server's own check refuses it."""
    target = start(Target)
    target.stop()
    config = {"AMQP_URI": vhost_uri}
    context = {CONTEXT_KEY: identity(), DEADLINE_KEY: time.time() + 0.3}
    with ClusterRpcProxy(config, context_data=context, timeout=20) as proxy:
        reply = proxy[TARGET].record.call_async("late")
        eventlet.sleep(1.0)  # the deadline passes while the request waits in the queue
        start(Target)
        with pytest.raises(DeadlineExceeded, match="expired before it was executed"):
            reply.result()
    eventlet.sleep(0.3)
    assert ("record", "late") not in RUNS


@pytest.mark.db
def test_a_statement_still_running_at_the_callers_deadline_is_ended_by_the_database(
    vhost_uri: str, container_factory: Any, make_db: Callable[[str], str]
) -> None:
    """The caller gives up at 0.5 s; the server's statement (5 s of work) is ended by its
    database then (within ``STATEMENT_SLACK``) instead of holding its connection to the end, and
    the next call, with time enough, runs in full on the same pool."""
    RUNS.clear()
    config = {"AMQP_URI": vhost_uri, "IDENTITY_SECRET": IDENTITY_SECRET, "max_workers": 4}
    sleeper = container_factory(Sleeper, {**config, "DB_URL": make_db("notifications")})
    sleeper.start()
    client = container_factory(Client, config)
    client.start()
    with pytest.raises(DeadlineExceeded):
        call(client, Sleeper.name, "sleep_in_db", 0.5, 5.0)
    wait_until(lambda: any(kind.startswith("db_") for kind, _ in RUNS), 10.0, "the server's statement")
    kind, seconds = RUNS[-1]
    assert kind == "db_ended" and seconds < 0.5 + STATEMENT_SLACK + 1.0, RUNS
    assert call(client, Sleeper.name, "sleep_in_db", 10.0, 0.2) == "slept"
    assert RUNS[-1][0] == "db_ran"


def test_nested_call_carries_the_callers_deadline(start: Callable[[type], Any]) -> None:
    start(Target)
    start(Middle)
    client = start(Client)
    began = time.time()
    seen = call(client, MIDDLE, "forward_deadline", 2.0)
    assert seen is not None, "the nested request carried no deadline"
    # The middle's own client allows 30 s; the target must see the outer caller's 2 s instead.
    assert began + 1.5 <= seen <= time.time() + 2.0, f"nested deadline {seen - began:.2f}s after the call"


def test_nested_call_is_not_made_once_the_outer_deadline_has_passed(start: Callable[[type], Any]) -> None:
    start(Target)
    start(Middle)
    client = start(Client)
    began = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        call(client, MIDDLE, "forward_after", 0.5, 1.0, "too-late")
    assert time.monotonic() - began < 3.0
    # The middle keeps working after its caller gave up; its nested call must fail, not run.
    wait_until(lambda: ("middle_saw_deadline", "too-late") in RUNS, 10.0, "the middle's nested call")
    eventlet.sleep(0.5)
    assert ("record", "too-late") not in RUNS


# -- identity -----------------------------------------------------------------


def _tampered() -> str:
    genuine = identity(user_id=7)
    escalated = sign(
        Caller(user_id=7, permissions=frozenset({"super_admin"}), access_level="everything"), "x"
    )
    return f"{escalated.split('.')[0]}.{genuine.split('.')[1]}"


REFUSED = {
    "none": None,
    "empty": "",
    "other-secret": identity(secret="not-the-shared-secret"),
    "tampered-payload": _tampered(),
    "expired": identity(ttl=-5.0),
    "garbage": "not-an-assertion",
}


@pytest.mark.parametrize("kind", sorted(REFUSED))
def test_call_without_a_valid_identity_is_refused_before_it_runs(
    start: Callable[[type], Any], vhost_uri: str, kind: str
) -> None:
    start(Target)
    assertion = REFUSED[kind]
    context = {} if assertion is None else {CONTEXT_KEY: assertion}
    with ClusterRpcProxy({"AMQP_URI": vhost_uri}, context_data=context, timeout=10) as proxy:
        with pytest.raises(Unauthenticated):
            proxy[TARGET].record(f"refused-{kind}")
        with pytest.raises(Unauthenticated):
            proxy[TARGET].whoami()
        assert proxy[TARGET].ping() == "pong"  # public: no identity needed
    assert RUNS == [("ping", None)]


def test_genuine_identity_reaches_the_method(start: Callable[[type], Any], vhost_uri: str) -> None:
    start(Target)
    with ClusterRpcProxy({"AMQP_URI": vhost_uri}, context_data={CONTEXT_KEY: identity(41)}) as proxy:
        assert proxy[TARGET].whoami() == 41
        assert proxy[TARGET].record("allowed") == "allowed"
    assert RUNS == [("whoami", 41), ("record", "allowed")]


# -- malformed requests ---------------------------------------------------------


def raw_call(
    amqp_uri: str,
    method: str,
    body: bytes,
    *,
    content_type: str = "application/json",
    headers: dict[str, Any] | None = None,
    reply: bool = True,
    timeout: float = 10.0,
) -> Exception | Any:
    """Publish a request byte for byte, as any AMQP client can; returns the answer (the error
    instance for an error reply), or None when no reply was asked for."""
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        key = uuid.uuid4().hex
        queue = Queue(f"rpc.reply-raw-{key}", exchange=RPC_EXCHANGE, routing_key=key, exclusive=True)
        queue(channel).declare()
        replies: list[dict[str, Any]] = []
        properties: dict[str, Any] = {
            "content_type": content_type,
            "application_headers": {f"nameko.{CONTEXT_KEY}": identity(), **(headers or {})},
            "correlation_id": key,
        }
        if reply:
            properties["reply_to"] = key
        with Consumer(channel, [queue], callbacks=[lambda b, m: replies.append(b)], accept=["json"]):
            channel.basic_publish(amqp.Message(body, **properties), RPC_EXCHANGE.name, f"{TARGET}.{method}")
            if not reply:
                return None
            deadline = time.monotonic() + timeout
            while not replies and time.monotonic() < deadline:
                with contextlib.suppress(TimeoutError):
                    conn.drain_events(timeout=0.2)
        assert replies, f"no answer to {method} within {timeout}s"
        error = replies[0].get("error")
        return deserialize(error) if error else replies[0]["result"]


def still_serving(vhost_uri: str) -> None:
    with ClusterRpcProxy(
        {"AMQP_URI": vhost_uri}, context_data={CONTEXT_KEY: identity()}, timeout=10
    ) as proxy:
        assert proxy[TARGET].record("still-here") == "still-here"


@pytest.mark.parametrize(
    ("context", "error", "match"),
    [
        ({DEADLINE_KEY: "soon"}, BadRequest, "deadline"),
        ({DEADLINE_KEY: "nan"}, BadRequest, "deadline"),
        ({"call_id_stack": [1, 2]}, BadRequest, "call_id_stack"),
        ({CONTEXT_KEY: "żółw.żółw"}, Unauthenticated, "identity"),
        ({CONTEXT_KEY: ["a", "list"]}, Unauthenticated, "identity"),
    ],
    ids=["deadline-text", "deadline-nan", "call-id-stack-ints", "identity-non-ascii", "identity-list"],
)
def test_malformed_header_gets_a_typed_error_and_the_service_keeps_serving(
    start: Callable[[type], Any], vhost_uri: str, context: dict[str, Any], error: type[Exception], match: str
) -> None:
    start(Target)
    with ClusterRpcProxy(
        {"AMQP_URI": vhost_uri}, context_data={CONTEXT_KEY: identity(), **context}, timeout=10
    ) as proxy:
        with pytest.raises(error, match=match):
            proxy[TARGET].record("malformed")
    still_serving(vhost_uri)
    assert ("record", "malformed") not in RUNS


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"args": [', "application/json"),
        (b"[1, 2]", "application/json"),
        (b'{"args": "x", "kwargs": {}}', "application/json"),
        (b'{"args": [], "kwargs": []}', "application/json"),
        (pickle.dumps({"args": ["x"], "kwargs": {}}), "application/x-python-serialize"),
        (b"record this", "text/plain"),
    ],
    ids=["broken-json", "list", "args-not-list", "kwargs-not-object", "pickle", "plain-text"],
)
def test_malformed_body_is_answered_bad_request_without_running(
    start: Callable[[type], Any], vhost_uri: str, body: bytes, content_type: str
) -> None:
    start(Target)
    answer = raw_call(vhost_uri, "record", body, content_type=content_type)
    assert isinstance(answer, BadRequest), answer
    still_serving(vhost_uri)
    assert [kind for kind, _ in RUNS] == ["record"]


def test_request_without_reply_to_is_dropped_and_the_service_keeps_serving(
    start: Callable[[type], Any], vhost_uri: str
) -> None:
    start(Target)
    body = json.dumps({"args": ["nobody-listens"], "kwargs": {}}).encode()
    raw_call(vhost_uri, "record", body, reply=False)
    still_serving(vhost_uri)
    eventlet.sleep(0.3)
    assert ("record", "nobody-listens") not in RUNS


# -- the caller's reply path -------------------------------------------------------------------


def test_requests_and_replies_travel_transient(start: Callable[[type], Any], vhost_uri: str) -> None:
    start(Target)
    client = start(Client)
    link = next(ext for ext in client.subextensions if isinstance(ext, BrokerLink))
    assert call(client, TARGET, "record", 5.0, "warm-up") == "warm-up"
    spy = Queue(
        f"spy-{uuid.uuid4().hex}",
        exchange=RPC_EXCHANGE,
        routing_key=f"{TARGET}.record",
        exclusive=True,
    )
    seen: list[Any] = []
    with Connection(vhost_uri) as conn:
        channel = conn.channel()
        bound = spy(channel)
        bound.declare()
        bound.bind_to(exchange=RPC_EXCHANGE.name, routing_key=link.routing_key)  # the replies too
        with Consumer(channel, queues=[bound], callbacks=[lambda _body, message: seen.append(message)]):
            assert call(client, TARGET, "record", 5.0, "spied") == "spied"
            deadline = time.monotonic() + 5
            while len(seen) < 2 and time.monotonic() < deadline:
                with contextlib.suppress(TimeoutError, OSError):
                    conn.drain_events(timeout=0.2)
    request = next(m for m in seen if m.properties.get("reply_to"))
    reply = next(m for m in seen if not m.properties.get("reply_to"))
    assert request.properties["delivery_mode"] == 1 and reply.properties["delivery_mode"] == 1
    assert 0 < int(request.properties["expiration"]) <= 5000


def test_a_link_whose_reply_queue_stops_receiving_reconnects_on_a_new_one(
    start: Callable[[type], Any], vhost_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chassis_rpc, "PROBE_AFTER", 0.2)
    monkeypatch.setattr(chassis_rpc, "PROBE_TIMEOUT", 2.0)
    start(Target)
    client = start(Client)
    link = next(ext for ext in client.subextensions if isinstance(ext, BrokerLink))
    assert call(client, TARGET, "record", 5.0, "before") == "before"
    first = link.routing_key
    eventlet.sleep(1.5)  # several probes sent and answered while idle: the same queue throughout
    assert link.routing_key == first and link.connected

    # what is addressed to the link stops reaching it while its connection stays up (as when its
    # queue's binding is gone): replies and probes now go to a key nothing is bound to
    link.routing_key = f"unbound-{first}"
    with pytest.raises(DeadlineExceeded):
        call(client, TARGET, "record", 0.5, "lost")  # its reply goes nowhere
    gone = (first, f"unbound-{first}")
    wait_until(lambda: link.routing_key not in gone and link.connected, 10, "a new reply queue")
    assert call(client, TARGET, "record", 5.0, "after") == "after"
    assert [label for kind, label in RUNS if kind == "record"] == ["before", "lost", "after"]


# -- requests on the link's own connection ---------------------------------------------------


def test_a_request_nobody_serves_fails_at_once_and_confirms_are_read_by_the_link(
    start: Callable[[type], Any],
) -> None:
    """The request goes out on the link's connection (mandatory, confirmed): the broker's return of
    a request no queue takes reaches its caller at once, and the confirmations of the others are
    read by the link's loop, leaving nothing unconfirmed."""
    start(Target)
    client = start(Client)
    link = next(ext for ext in client.subextensions if isinstance(ext, BrokerLink))
    for n in range(5):
        assert call(client, TARGET, "record", 5.0, f"r{n}") == f"r{n}"
    began = time.monotonic()
    with pytest.raises(ServiceUnavailable, match="not available"):
        call(client, NOBODY, "record", 5.0, "x")
    assert time.monotonic() - began < 2.0, "a returned request fails at once, not at its 5 s deadline"
    wait_until(lambda: not link._requests.unconfirmed, 5, "every request confirmed")
    assert link._requests.sent == 6, "six requests, all on the link's request channel"


def test_a_request_whose_connection_breaks_as_it_is_sent_goes_out_on_the_next(
    start: Callable[[type], Any],
) -> None:
    """The write fails (the connection reset under the link, its loop not yet aware): the link ends
    that connection at once, and the request goes out again on the next one."""
    start(Target)
    client = start(Client)
    link = next(ext for ext in client.subextensions if isinstance(ext, BrokerLink))
    assert call(client, TARGET, "record", 5.0, "before") == "before"
    first, broken = link.routing_key, link._requests.channel
    failures: list[Any] = []

    def reset(*args: Any, **kwargs: Any) -> None:
        failures.append(args)
        raise ConnectionResetError(104, "Connection reset by peer")

    broken.basic_publish = reset
    began = time.monotonic()
    assert call(client, TARGET, "record", 5.0, "across") == "across"
    assert len(failures) == 1 and link._requests.channel is not broken and link.routing_key != first
    assert time.monotonic() - began < 2.0, "the loop learnt of the broken connection from the failed write"
    assert [label for kind, label in RUNS if kind == "record"] == ["before", "across"]
