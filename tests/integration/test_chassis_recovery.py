"""Recovery after a broker outage, on a private RabbitMQ node that is really stopped and started.

Proves that a service built on the chassis (an ``@rpc`` method, an ``@subscribe`` handler, a
``ServiceRpc`` client through ``BrokerLink``)

* stays alive through an outage longer than kombu's default reconnection schedule would bear
  quickly, even when the broker went away while it was serving a request it can no longer
  answer (nameko would retry that reply for ~12 s and then kill the container, ending the
  process and adding the supervisor's back-off to the outage);
* answers RPC again, receives events again, and gets its own client calls through again, each
  within ``RECOVERY_BUDGET`` (2 s) of the node accepting connections again.

The times are printed (``pytest -s``).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from typing import Any

import eventlet
import pytest
from nameko.containers import ServiceContainer
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.services import dummy, entrypoint_hook

from services.chassis.events import subscribe
from services.chassis.identity import CONTEXT_KEY, Caller, sign
from services.chassis.rpc import ServiceRpc, rpc
from tests.broker import publish_event
from tests.conftest import IDENTITY_SECRET, PrivateRabbit

pytestmark = pytest.mark.broker

OUTAGE_SECONDS = 15.0
RECOVERY_BUDGET = 2.0
SOURCE = "recovery_source"
THING = "thing_happened"

HANDLED: list[str] = []


class Steady:
    name = "steady"

    @rpc
    def echo(self, value: str) -> str:
        return value

    @rpc
    def slow(self, seconds: float) -> str:
        eventlet.sleep(seconds)
        return "done"

    @subscribe(SOURCE, THING)
    def handle_thing(self, payload: dict[str, Any]) -> None:
        HANDLED.append(payload["event_id"])


class Caller_:
    """Calls ``steady`` through the chassis client (BrokerLink), as every service and the gateway do."""

    name = "steady_caller"
    steady = ServiceRpc("steady", timeout=1.0)

    @dummy
    def call(self, value: str) -> str:
        return str(self.steady.echo(value))


def identity() -> str:
    return sign(Caller(user_id=1, name="tester"), IDENTITY_SECRET, 300.0)


def seconds_until(predicate: Callable[[], bool], timeout: float) -> float:
    began = time.monotonic()
    while not predicate():
        if time.monotonic() - began > timeout:
            raise AssertionError(f"not recovered within {timeout}s")
        eventlet.sleep(0.05)
    return time.monotonic() - began


def answers(amqp_uri: str) -> bool:
    try:
        with ClusterRpcProxy(
            {"AMQP_URI": amqp_uri}, context_data={CONTEXT_KEY: identity()}, timeout=0.5
        ) as proxy:
            return bool(proxy["steady"].echo("x") == "x")
    except Exception:
        return False


def answers_slowly(amqp_uri: str) -> None:
    with contextlib.suppress(Exception):
        with ClusterRpcProxy(
            {"AMQP_URI": amqp_uri}, context_data={CONTEXT_KEY: identity()}, timeout=30
        ) as proxy:
            proxy["steady"].slow(5.0)


def calls_through(caller: ServiceContainer) -> bool:
    try:
        with entrypoint_hook(caller, "call", context_data={CONTEXT_KEY: identity()}) as hook:
            return bool(hook("y") == "y")
    except Exception:
        return False


def test_services_ride_out_an_outage_and_serve_within_two_seconds_of_its_end(
    container_factory: Any, private_rabbit: PrivateRabbit
) -> None:
    HANDLED.clear()
    config = {"AMQP_URI": private_rabbit.uri, "IDENTITY_SECRET": IDENTITY_SECRET}
    steady: ServiceContainer = container_factory(Steady, config)
    caller: ServiceContainer = container_factory(Caller_, config)
    steady.start()
    caller.start()
    try:
        assert answers(private_rabbit.uri)
        assert calls_through(caller)

        in_flight = eventlet.spawn(answers_slowly, private_rabbit.uri)
        eventlet.sleep(0.5)  # the request is being served when the broker goes
        private_rabbit.stop()
        eventlet.sleep(OUTAGE_SECONDS)
        in_flight.kill()
        assert not steady._died.ready(), "the service gave up during the outage"
        assert not caller._died.ready(), "the calling service gave up during the outage"

        private_rabbit.start()
        rpc_back = seconds_until(lambda: answers(private_rabbit.uri), 60.0)
        client_back = seconds_until(lambda: calls_through(caller), 60.0)
        event_id = str(uuid.uuid4())
        published = time.monotonic()
        publish_event(private_rabbit.uri, SOURCE, THING, {"event_id": event_id, "occurred_at": "x"})
        event_back = seconds_until(lambda: event_id in HANDLED, 60.0)
        total = time.monotonic() - published + rpc_back + client_back
        print(
            f"\nrecovery after a {OUTAGE_SECONDS:g}s outage: RPC served {rpc_back:.2f}s after the node was"
            f" back, client call through {client_back:.2f}s later, event handled {event_back:.2f}s after"
            f" publishing"
        )
        assert rpc_back <= RECOVERY_BUDGET, f"RPC served {rpc_back:.2f}s after the broker returned"
        assert total <= 2 * RECOVERY_BUDGET, f"everything back only after {total:.2f}s"
    finally:
        for container in (caller, steady):
            container.kill()  # before the node stops, or its consumer retries for minutes
