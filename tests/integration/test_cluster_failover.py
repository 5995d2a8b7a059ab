"""The chassis on a 3-node RabbitMQ cluster: quorum queues, retries through them, and clients that
fail over when the node they are connected to is killed.

Proves that

* with ``QUEUE_TYPE: quorum`` every durable queue the chassis declares (``rpc-<service>``, a
  subscription's main, ``.retry`` and ``.dead`` queues) is a quorum queue, with a delivery limit on
  the queues a poison message could loop in, and reply queues stay classic and exclusive;
* a handler's failure is retried after its back-off straight through the main quorum queue
  (not through ``.retry``'s per-message TTL, which quorum queues may not honour without a
  consumer: see :mod:`services.chassis.events`) and then handled once;
* SIGKILL of the node that both a server and its client are connected to: both reconnect to
  another node (kombu's failover along the ``;``-separated URIs), RPC calls succeed again within
  seconds, and every event whose publish the broker confirmed is handled (none lost); the killed
  node rejoins the cluster when restarted.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import eventlet
import pytest
from kombu import Connection
from nameko.containers import ServiceContainer
from nameko.testing.services import dummy, entrypoint_hook

from deploy import dlq
from services.chassis.events import queue_name, subscribe
from services.chassis.identity import CONTEXT_KEY, Caller, sign
from services.chassis.queues import DELIVERY_LIMIT, RPC_DELIVERY_LIMIT
from services.chassis.rpc import ServiceRpc, rpc
from tests.broker import publish_event, wait_until
from tests.conftest import IDENTITY_SECRET, ClusterUnderTest

pytestmark = [pytest.mark.broker, pytest.mark.cluster]

SOURCE = "cluster_source"
THING = "thing_happened"
SERVER = "cluster_server"

handled: list[str] = []
failures_left = {"count": 0}


class Server:
    name = SERVER

    @rpc
    def echo(self, value: int) -> int:
        return value

    @subscribe(SOURCE, THING)
    def handle_thing(self, payload: dict[str, Any]) -> None:
        if failures_left["count"] > 0:
            failures_left["count"] -= 1
            raise RuntimeError("not yet")
        handled.append(payload["event_id"])


class Client:
    name = "cluster_client"
    server = ServiceRpc(SERVER, timeout=2.0)

    @dummy
    def echo(self, value: int) -> int:
        return int(self.server.echo(value))


def identity() -> str:
    return sign(Caller(user_id=1, name="tester", access_level="everything"), IDENTITY_SECRET, 600)


@pytest.fixture(autouse=True)
def _reset() -> None:
    handled.clear()
    failures_left["count"] = 0


@pytest.fixture
def start(container_factory: Any) -> Callable[[type, str], ServiceContainer]:
    def starter(cls: type, uri: str) -> ServiceContainer:
        config = {
            "AMQP_URI": uri,
            "IDENTITY_SECRET": IDENTITY_SECRET,
            "QUEUE_TYPE": "quorum",
            "max_workers": 8,
        }
        container = container_factory(cls, config)
        container.start()
        return container

    return starter


def queues(cluster: ClusterUnderTest, vhost: str) -> dict[str, dict[str, Any]]:
    return {q["name"]: q for q in cluster.management("GET", f"queues/{quote(vhost, safe='')}")}


def call_echo(client: ServiceContainer, value: int) -> int:
    with entrypoint_hook(client, "echo", context_data={CONTEXT_KEY: identity()}) as hook:
        return int(hook(value))


def test_durable_queues_are_quorum_with_delivery_limits(
    rabbit_cluster: ClusterUnderTest, cluster_vhost: str, start: Callable[[type, str], ServiceContainer]
) -> None:
    uri = rabbit_cluster.uri_for(cluster_vhost)
    start(Server, uri)
    client = start(Client, uri)
    assert call_echo(client, 5) == 5

    found = queues(rabbit_cluster, cluster_vhost)
    main = queue_name(SOURCE, THING, SERVER, "handle_thing")
    rpc_queue = found[f"rpc-{SERVER}"]
    assert rpc_queue["type"] == "quorum"
    assert rpc_queue["arguments"]["x-delivery-limit"] == RPC_DELIVERY_LIMIT
    assert found[main]["type"] == "quorum"
    assert found[main]["arguments"]["x-delivery-limit"] == DELIVERY_LIMIT
    assert found[main]["arguments"]["x-dead-letter-routing-key"] == f"{main}.dead"
    retry = found[f"{main}.retry"]
    assert retry["type"] == "quorum"
    assert retry["arguments"]["x-dead-letter-routing-key"] == main
    assert retry["arguments"]["x-dead-letter-strategy"] == "at-least-once"
    assert found[f"{main}.dead"]["type"] == "quorum"
    replies = [q for name, q in found.items() if name.startswith("rpc.reply-")]
    assert replies and all(q["type"] == "classic" and q["exclusive"] for q in replies)
    # a quorum queue has a member on every node
    assert len(rpc_queue["members"]) == 3


def test_failed_handler_is_retried_after_its_back_off_on_quorum_queues(
    rabbit_cluster: ClusterUnderTest, cluster_vhost: str, start: Callable[[type, str], ServiceContainer]
) -> None:
    uri = rabbit_cluster.uri_for(cluster_vhost)
    start(Server, uri)
    failures_left["count"] = 2
    event_id = str(uuid.uuid4())
    publish_event(uri, SOURCE, THING, {"event_id": event_id})
    wait_until(lambda: handled == [event_id], 20, "the event after two retries")
    main = queue_name(SOURCE, THING, SERVER, "handle_thing")
    with Connection(uri) as conn:
        assert [dlq.depth(conn, q) for q in (main, f"{main}.retry", f"{main}.dead")] == [0, 0, 0]


def test_clients_fail_over_when_their_node_is_killed(
    rabbit_cluster: ClusterUnderTest, cluster_vhost: str, start: Callable[[type, str], ServiceContainer]
) -> None:
    victim = 0
    uri = rabbit_cluster.uri_for(cluster_vhost, first=victim)  # everyone connects to the victim first
    start(Server, uri)
    client = start(Client, uri)
    publisher_uri = rabbit_cluster.uri_for(cluster_vhost, first=1)
    results: list[tuple[float, bool]] = []
    confirmed: list[str] = []
    running = {"on": True}

    def calls() -> None:
        n = 0
        while running["on"]:
            n += 1
            try:
                ok = call_echo(client, n) == n
            except Exception:
                ok = False
            results.append((time.monotonic(), ok))
            eventlet.sleep(0.05)

    def events() -> None:
        while running["on"]:
            event_id = str(uuid.uuid4())
            try:
                publish_event(publisher_uri, SOURCE, THING, {"event_id": event_id})
            except Exception:
                eventlet.sleep(0.2)
                continue  # not confirmed: not promised either
            confirmed.append(event_id)
            eventlet.sleep(0.05)

    threads = [eventlet.spawn(calls), eventlet.spawn(events)]
    eventlet.sleep(3)
    assert results and all(ok for _, ok in results), "all calls succeed before the kill"
    killed_at = time.monotonic()
    rabbit_cluster.kill(victim)
    eventlet.sleep(15)
    running["on"] = False
    for thread in threads:
        thread.wait()

    after = [(t, ok) for t, ok in results if t > killed_at]
    first_ok = next((t for t, ok in after if ok), None)
    assert first_ok is not None, "no call succeeded after the node died"
    recovered_in = first_ok - killed_at
    failed = sum(1 for _, ok in after if not ok)
    tail = [ok for t, ok in after if t > first_ok + 2]
    print(f"\nfailover: calls succeed again {recovered_in:.2f}s after the kill; {failed} failed meanwhile")
    assert recovered_in < 10
    assert tail and all(tail), "calls keep succeeding once failed over"

    wait_until(lambda: set(confirmed) <= set(handled), 30, "every confirmed event to be handled")
    counts = Counter(handled)
    print(
        f"events: {len(confirmed)} confirmed, {len(set(handled))} handled, "
        f"{sum(c - 1 for c in counts.values())} handled twice (redelivered after the kill)"
    )

    rabbit_cluster.restart(victim)
    wait_until(lambda: len(rabbit_cluster.running()) == 3, 60, "the node to rejoin")
    assert call_echo(client, 99) == 99
