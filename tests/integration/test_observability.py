"""Metrics and trace context across real services on a real RabbitMQ (SQLite or PostgreSQL).

A ``front`` service calls ``obs_producer`` over RPC inside a request that carries a W3C
``traceparent``; the producer records an event in its outbox, which the relay publishes to
``obs_consumer``. Proves that

* the request's trace id reaches the producer's worker, the event's AMQP headers (``traceparent``
  and ``nameko.traceparent``, stored with the outbox row, not in the published body) and the
  consumer's log records;
* the worker, RPC-client and published-event counters move, and the latency histograms count;
* the producer's metrics server answers ``/metrics`` (with the outbox backlog read at scrape
  time), ``/healthz`` and ``/readyz``;
* a request refused before any worker runs (no identity) is counted with its error;
* a caller's mistake (a 4xx) counts as ``client_error`` and is logged at INFO without a
  traceback; a failed delivery is counted as a retry; an event no retry can heal is counted as
  dead-lettered and shows in the DLQ depth;
* the outgoing mail queue is read by state, with how late its most overdue mail is, at scrape time.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kombu import Connection, Exchange, Queue
from nameko.containers import ServiceContainer
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.services import entrypoint_hook
from prometheus_client import REGISTRY
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table

from deploy.ports import free_port
from services.chassis import tracing
from services.chassis.db import Database, make_engine
from services.chassis.errors import NotFound, Unauthenticated
from services.chassis.events import Unprocessable, subscribe
from services.chassis.logs import JsonFormatter
from services.chassis.mailer import MailSender
from services.chassis.metrics import Telemetry
from services.chassis.outbox import Outbox, OutboxRelay
from services.chassis.rpc import ServiceRpc, rpc
from services.chassis.schema import EventPayload
from tests.conftest import IDENTITY_SECRET

pytestmark = [pytest.mark.broker, pytest.mark.db]

PRODUCER, CONSUMER = "obs_producer", "obs_consumer"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
INCOMING = f"00-{TRACE_ID}-00f067aa0ba902b7-01"

metadata = MetaData()
things = Table("things", metadata, Column("id", Integer, primary_key=True), Column("label", String(50)))


class ThingMade(EventPayload):
    pass


outbox = Outbox(metadata, {"thing_made": ThingMade, "poison": ThingMade, "flaky": ThingMade})
FLAKY_CALLS: list[str] = []
SEEN: list[dict[str, Any]] = []
consumer_log = logging.getLogger("tests.observability.consumer")


class Producer:
    name = PRODUCER
    telemetry = Telemetry()
    db = Database()
    relay = OutboxRelay("db", outbox)

    @rpc(public=True)
    def make(self, label: str) -> str:
        with self.db.transaction() as session:
            session.execute(things.insert().values(label=label))
            return outbox.record(session, "thing_made", {})

    @rpc(public=True)
    def poison(self) -> str:
        with self.db.transaction() as session:
            return outbox.record(session, "poison", {})

    @rpc(public=True)
    def flaky(self) -> str:
        with self.db.transaction() as session:
            return outbox.record(session, "flaky", {})

    @rpc
    def guarded(self) -> None:
        pass

    @rpc(public=True)
    def missing(self) -> None:
        raise NotFound("No such thing.")


class Consumer:
    name = CONSUMER
    telemetry = Telemetry()

    @subscribe(PRODUCER, "thing_made")
    def on_thing(self, payload: dict[str, Any]) -> None:
        span = tracing.current()
        SEEN.append({"event_id": payload["event_id"], "trace_id": span.trace_id if span else None})
        consumer_log.info("thing %s seen", payload["event_id"])

    @subscribe(PRODUCER, "flaky")
    def on_flaky(self, payload: dict[str, Any]) -> None:
        FLAKY_CALLS.append(payload["event_id"])
        if len(FLAKY_CALLS) == 1:
            raise RuntimeError("the first delivery fails")

    @subscribe(PRODUCER, "poison", max_attempts=1)
    def on_poison(self, payload: dict[str, Any]) -> None:
        raise Unprocessable("never")


class Front:
    name = "obs_front"
    telemetry = Telemetry()
    producer = ServiceRpc(PRODUCER)

    @rpc(public=True)
    def go(self, label: str) -> str:
        return str(self.producer.make(label))

    @rpc(public=True)
    def ask_missing(self) -> None:
        self.producer.missing()


def sample(metric: str, /, **labels: str) -> float:
    return REGISTRY.get_sample_value(metric, labels) or 0.0


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter(service="test"))
        self.lines: list[dict[str, Any]] = []
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def suite(
    container_factory: Any, scratch_db: Callable[[MetaData], str], vhost_uri: str
) -> dict[str, ServiceContainer]:
    SEEN.clear()
    base = {"AMQP_URI": vhost_uri, "IDENTITY_SECRET": IDENTITY_SECRET}
    port = free_port()
    containers = {
        "consumer": container_factory(Consumer, base),
        "producer": container_factory(
            Producer, {**base, "DB_URL": scratch_db(metadata), "METRICS_BIND": f"127.0.0.1:{port}"}
        ),
        "front": container_factory(Front, base),
    }
    for container in containers.values():
        container.start()
    return containers


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_a_trace_follows_the_call_through_rpc_outbox_and_event_and_counters_move(
    suite: dict[str, ServiceContainer], records: Records
) -> None:
    rpc_ok = dict(service=PRODUCER, kind="rpc", name="make", outcome="ok")
    before = {
        "worker": sample("helpdesk_worker_calls_total", **rpc_ok),
        "client": sample(
            "helpdesk_rpc_client_calls_total",
            service="obs_front",
            target=PRODUCER,
            method="make",
            outcome="ok",
        ),
        "published": sample("helpdesk_events_published_total", service=PRODUCER, event_type="thing_made"),
        "handled": sample(
            "helpdesk_worker_calls_total", service=CONSUMER, kind="event", name="on_thing", outcome="ok"
        ),
        "timed": sample("helpdesk_worker_seconds_count", service=PRODUCER, kind="rpc", name="make"),
    }

    with Connection(suite["producer"].config["AMQP_URI"]) as conn:
        exchange = Exchange(f"{PRODUCER}.events", type="topic", durable=True, passive=True)
        tap = Queue("obs-tap", exchange=exchange, routing_key="thing_made", exclusive=True)(conn.channel())
        tap.declare()
        with entrypoint_hook(suite["front"], "go", context_data={tracing.TRACEPARENT: INCOMING}) as go:
            event_id = go("first")
        wait_for(lambda: any(s["event_id"] == event_id for s in SEEN))
        message = tap.get(no_ack=True)
    assert message is not None and message.payload["event_id"] == event_id
    assert "_traceparent" not in message.payload  # the stored trace travels as headers only
    for header in ("traceparent", "nameko.traceparent"):
        parsed = tracing.parse(message.headers[header])
        assert parsed is not None and parsed[0] == TRACE_ID

    assert SEEN[-1]["trace_id"] == TRACE_ID  # stored with the outbox row, sent in the event's headers
    line = next(r for r in records.lines if r["logger"] == consumer_log.name)
    assert line["trace_id"] == TRACE_ID and line["message"] == f"thing {event_id} seen"
    assert sample("helpdesk_worker_calls_total", **rpc_ok) == before["worker"] + 1
    assert sample("helpdesk_worker_seconds_count", service=PRODUCER, kind="rpc", name="make") == (
        before["timed"] + 1
    )
    assert (
        sample(
            "helpdesk_rpc_client_calls_total",
            service="obs_front",
            target=PRODUCER,
            method="make",
            outcome="ok",
        )
        == before["client"] + 1
    )
    assert sample("helpdesk_events_published_total", service=PRODUCER, event_type="thing_made") == (
        before["published"] + 1
    )
    wait_for(
        lambda: (
            sample(
                "helpdesk_worker_calls_total", service=CONSUMER, kind="event", name="on_thing", outcome="ok"
            )
            == before["handled"] + 1
        )
    )

    server = suite["producer"].config["METRICS_BIND"]
    status, text = get(f"http://{server}/metrics")
    assert status == 200
    assert f'helpdesk_outbox_backlog{{service="{PRODUCER}"}} 0.0' in text
    assert f'helpdesk_outbox_oldest_age_seconds{{service="{PRODUCER}"}}' in text
    assert 'helpdesk_worker_seconds_bucket{kind="rpc",le="0.005",name="make"' in text
    assert get(f"http://{server}/healthz")[0] == 200
    assert get(f"http://{server}/readyz") == (200, "ready\n")


def test_a_request_without_traceparent_starts_a_trace_of_its_own(suite: dict[str, ServiceContainer]) -> None:
    with entrypoint_hook(suite["front"], "go") as go:
        event_id = go("second")
    wait_for(lambda: any(s["event_id"] == event_id for s in SEEN))
    trace_id = SEEN[-1]["trace_id"]
    assert trace_id and trace_id != TRACE_ID and len(trace_id) == 32


def test_a_callers_mistake_counts_as_client_error_and_is_logged_at_info_without_traceback(
    suite: dict[str, ServiceContainer], records: Records
) -> None:
    labels = dict(service=PRODUCER, kind="rpc", name="missing", outcome="client_error")
    before = sample("helpdesk_worker_calls_total", **labels)
    with entrypoint_hook(suite["front"], "ask_missing") as ask, pytest.raises(NotFound):
        ask()
    assert sample("helpdesk_worker_calls_total", **labels) == before + 1
    assert (
        sample(
            "helpdesk_rpc_client_calls_total",
            service="obs_front",
            target=PRODUCER,
            method="missing",
            outcome="client_error",
        )
        >= 1
    )
    worker_lines = [
        r for r in records.records if r.name == "nameko.containers" and "missing" in r.getMessage()
    ]
    assert worker_lines and all(r.levelno == logging.INFO and r.exc_info is None for r in worker_lines)


def test_a_dead_lettered_event_is_counted_and_shows_in_the_dlq_depth(
    suite: dict[str, ServiceContainer],
) -> None:
    queue = f"evt-{PRODUCER}-poison--{CONSUMER}.on_poison"
    before = sample("helpdesk_events_dead_lettered_total", service=CONSUMER, queue=queue)
    with entrypoint_hook(suite["producer"], "poison") as poison:
        poison()
    wait_for(
        lambda: sample("helpdesk_events_dead_lettered_total", service=CONSUMER, queue=queue) == before + 1
    )
    wait_for(lambda: sample("helpdesk_dlq_depth", service=CONSUMER, queue=f"{queue}.dead") == 1)


mail_metadata = MetaData()
outgoing_mail = Table(
    "outgoing_mail",
    mail_metadata,
    Column("id", Integer, primary_key=True),
    Column("state", String(10), nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
)


class _EmptyQueue:
    def claim_due(self, *, limit: int) -> list[Any]:
        return []


class QuietSender(MailSender):
    def _store(self) -> Any:
        return None

    def queue_of(self, store: Any) -> Any:
        return _EmptyQueue()


class Mailer:
    name = "obs_mailer"
    telemetry = Telemetry()
    db = Database()
    sender = QuietSender("db")

    @rpc(public=True)
    def noop(self) -> None:
        pass


def test_the_outgoing_mail_queue_is_read_by_state_when_scraped(
    container_factory: Any, scratch_db: Callable[[MetaData], str], vhost_uri: str
) -> None:
    url = scratch_db(mail_metadata)
    now = dt.datetime.now(dt.UTC)
    with make_engine(url).begin() as conn:
        conn.execute(
            outgoing_mail.insert(),
            [
                {"state": "queued", "next_attempt_at": now - dt.timedelta(seconds=60)},
                {"state": "queued", "next_attempt_at": now + dt.timedelta(seconds=60)},
                {"state": "sent", "next_attempt_at": now},
                {"state": "failed", "next_attempt_at": now},
            ],
        )
    config = {"AMQP_URI": vhost_uri, "IDENTITY_SECRET": IDENTITY_SECRET, "DB_URL": url}
    container_factory(Mailer, config).start()
    assert sample("helpdesk_mail_queue", service="obs_mailer", state="queued") == 2
    assert sample("helpdesk_mail_queue", service="obs_mailer", state="sent") == 1
    assert sample("helpdesk_mail_queue", service="obs_mailer", state="failed") == 1
    assert 59 <= sample("helpdesk_mail_overdue_seconds", service="obs_mailer") < 120


def test_a_failed_delivery_retried_is_counted_as_a_retry_and_an_error_then_ok(
    suite: dict[str, ServiceContainer],
) -> None:
    FLAKY_CALLS.clear()
    queue = f"evt-{PRODUCER}-flaky--{CONSUMER}.on_flaky"
    worker = dict(service=CONSUMER, kind="event", name="on_flaky")
    before = {
        "retries": sample("helpdesk_event_retries_total", service=CONSUMER, queue=queue),
        "error": sample("helpdesk_worker_calls_total", **worker, outcome="error"),
        "ok": sample("helpdesk_worker_calls_total", **worker, outcome="ok"),
    }
    with entrypoint_hook(suite["producer"], "flaky") as flaky:
        flaky()
    wait_for(lambda: sample("helpdesk_worker_calls_total", **worker, outcome="ok") == before["ok"] + 1)
    assert len(FLAKY_CALLS) == 2
    assert sample("helpdesk_event_retries_total", service=CONSUMER, queue=queue) == before["retries"] + 1
    assert sample("helpdesk_worker_calls_total", **worker, outcome="error") == before["error"] + 1


def test_a_request_refused_before_any_worker_runs_is_counted_with_its_error(
    suite: dict[str, ServiceContainer],
) -> None:
    labels = dict(service=PRODUCER, method="guarded", error="Unauthenticated")
    before = sample("helpdesk_rpc_refused_total", **labels)
    with ClusterRpcProxy({"AMQP_URI": suite["producer"].config["AMQP_URI"]}, timeout=10) as proxy:
        with pytest.raises(Unauthenticated):
            proxy[PRODUCER].guarded()
    assert sample("helpdesk_rpc_refused_total", **labels) == before + 1
    assert (
        sample("helpdesk_worker_calls_total", service=PRODUCER, kind="rpc", name="guarded", outcome="ok") == 0
    )
