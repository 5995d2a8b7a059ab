"""The chassis' RPC over a real RabbitMQ: deadlines and verified identities are enforced by the server.

Proves that

* a request whose deadline passed before a server picked it up is never executed, whether the
  broker drops it (message TTL) or it reaches the server late (a client that sets no TTL), and the
  caller gets ``DeadlineExceeded``;
* a nested call inherits the deadline of the request it serves, so work whose caller has given up
  is not started further down;
* a call without an identity, with one signed by another secret, with a tampered payload or an
  expired one, is refused with ``Unauthenticated`` before the method runs; ``@rpc(public=True)``
  needs none, and a genuine identity reaches the method as its ``CurrentCaller``.

Each test has its own vhost; the tiny services below run in this process, so ``RUNS`` shows what
the servers really executed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import eventlet
import pytest
from nameko.containers import ServiceContainer
from nameko.extensions import DependencyProvider
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.services import dummy, entrypoint_hook

from services.chassis.errors import DeadlineExceeded, Unauthenticated
from services.chassis.identity import CONTEXT_KEY, Caller, sign
from services.chassis.rpc import DEADLINE_KEY, CurrentCaller, ServiceRpc, require_caller, rpc
from tests.conftest import IDENTITY_SECRET

pytestmark = pytest.mark.broker

RUNS: list[tuple[str, Any]] = []
"""What the servers executed, in order."""

TARGET = "rpc_target"
MIDDLE = "rpc_middle"


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


class Client:
    """A caller on the chassis' client side (ServiceRpc through BrokerLink)."""

    name = "rpc_client"
    target = ServiceRpc(TARGET)
    middle = ServiceRpc(MIDDLE)

    @dummy
    def call(self, service: str, method: str, timeout: float, *args: Any) -> Any:
        client = self.target if service == TARGET else self.middle
        return getattr(client.with_timeout(timeout), method)(*args)


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


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        eventlet.sleep(0.05)


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
