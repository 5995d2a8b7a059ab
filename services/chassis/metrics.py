"""Prometheus metrics of a process, and the telemetry every service and the gateway declares.

Every metric is defined here once, in the process's default registry, with a ``service`` label
(tests run several services in one process). What moves them:

* :class:`Telemetry` (a dependency each service class and the gateway declare) times and counts
  every worker - an RPC answered, an event handled, a timer run, an HTTP route - and makes each
  worker a span of its request's trace (:mod:`services.chassis.tracing`);
* the chassis's RPC client (calls made, their latency and outcome), outbox relay (events
  published), subscriptions (retries and dead letters) and mail sender (mail sent, retried,
  given up) count as they go;
* the rest is read when scraped: the outbox backlog and the age of its oldest unpublished row,
  the depth of each subscription's dead-letter queue, the outgoing mail queue by state. An
  extension that has such a reading defines ``metrics_probe()`` returning metric families.

A service serves ``/metrics`` (and ``/healthz``, ``/readyz`` for probes) on its ``METRICS_BIND``
setting, ``host:port`` (``0`` or empty: no server, as in tests); the gateway answers
``GET /metrics`` on its HTTP port instead.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import eventlet
from eventlet import wsgi
from kombu import Connection
from nameko.events import EventHandler
from nameko.extensions import DependencyProvider, SharedExtension
from nameko.rpc import Rpc
from nameko.timer import Timer
from nameko.web.handlers import HttpRequestHandler
from prometheus_client import REGISTRY, Counter, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.registry import Collector

from services.chassis import config as cfg
from services.chassis import heap, tracing
from services.chassis.errors import HelpdeskError

log = logging.getLogger(__name__)

disable_created_metrics()  # a `_created` series beside every counter doubles the scrape for nothing

METRICS_BIND = "METRICS_BIND"
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

WORKERS = Counter(
    "helpdesk_worker_calls",
    "Work done by a service: RPCs answered, events handled, timer runs, HTTP routes.",
    ["service", "kind", "name", "outcome"],
)
WORKER_SECONDS = Histogram(
    "helpdesk_worker_seconds",
    "How long each piece of work took, reply included.",
    ["service", "kind", "name"],
    buckets=LATENCY_BUCKETS,
)
RPC_CALLS = Counter(
    "helpdesk_rpc_client_calls",
    "RPCs made to other services, by outcome (ok, client_error, error, unavailable, timeout).",
    ["service", "target", "method", "outcome"],
)
RPC_SECONDS = Histogram(
    "helpdesk_rpc_client_seconds",
    "How long RPCs to other services took, as their caller saw it.",
    ["service", "target", "method"],
    buckets=LATENCY_BUCKETS,
)
RPC_REFUSED = Counter(
    "helpdesk_rpc_refused",
    "RPC requests answered with an error before any worker ran (expired, malformed, no valid identity).",
    ["service", "method", "error"],
)
EVENTS_PUBLISHED = Counter(
    "helpdesk_events_published", "Events the outbox relay published.", ["service", "event_type"]
)
EVENT_RETRIES = Counter(
    "helpdesk_event_retries", "Event deliveries that failed and were scheduled again.", ["service", "queue"]
)
EVENTS_DEAD_LETTERED = Counter(
    "helpdesk_events_dead_lettered", "Events parked in a dead-letter queue.", ["service", "queue"]
)
MAIL_ATTEMPTS = Counter(
    "helpdesk_mail_attempts", "Outgoing mail handed to the relay, by result (sent, retry, failed).",
    ["service", "result"],
)  # fmt: skip
HTTP_REQUESTS = Counter(
    "helpdesk_http_requests", "HTTP requests the gateway answered.", ["method", "route", "status"]
)
HTTP_SECONDS = Histogram(
    "helpdesk_http_request_seconds",
    "How long the gateway took to answer (until the response began).",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)


class _Probes(Collector):
    """Readings taken at scrape time from every registered probe (one failing probe is skipped)."""

    def __init__(self) -> None:
        self.probes: dict[int, Callable[[], Iterable[Metric]]] = {}

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for probe in list(self.probes.values()):
            try:
                families = list(probe())
            except Exception as exc:
                log.warning("a metrics reading failed: %s", exc)
                continue
            for family in families:
                if family.name in merged:
                    merged[family.name].samples.extend(family.samples)
                else:
                    merged[family.name] = family
        yield from merged.values()

    def describe(self) -> list[Metric]:
        return []  # unknown until read; the registry then skips the duplicate-name check


PROBES = _Probes()
REGISTRY.register(PROBES)


def exposition() -> tuple[bytes, str]:
    """The text format (0.0.4, which every Prometheus reads) of every metric of this process, and its
    content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_PLAIN_0_0_4


def gauge(name: str, documentation: str, labels: dict[str, str], value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=list(labels))
    family.add_metric(list(labels.values()), value)
    return family


def service_of(extension: Any) -> str:
    """The service an extension works for (empty for one used outside a container, as in unit tests)."""
    container = getattr(extension, "container", None)
    return str(getattr(container, "service_name", "") or "")


def kind_of(entrypoint: Any) -> str:
    if isinstance(entrypoint, Rpc):
        return "rpc"
    if isinstance(entrypoint, EventHandler):
        return "event"
    if isinstance(entrypoint, Timer):
        return "timer"
    if isinstance(entrypoint, HttpRequestHandler):
        return "http"
    return type(entrypoint).__name__.lower()


def outcome_of(error: BaseException | None) -> str:
    if error is None:
        return "ok"
    if isinstance(error, HelpdeskError) and error.status < 500:
        return "client_error"
    return "error"


def parse_bind(value: Any) -> tuple[str, int] | None:
    """``host:port`` (or a bare port, on 127.0.0.1) as an address; None for ``0``, empty or None."""
    text = str(value if value is not None else "").strip()
    if text in ("", "0"):
        return None
    host, _, port = text.rpartition(":")
    number = int(port)
    return (host or "127.0.0.1", number) if number else None


class MetricsServer(SharedExtension):
    """The small HTTP server of one service process: ``/metrics``, ``/healthz`` and ``/readyz``.

    ``/readyz`` answers 200 while every consuming connection of the container is consuming (the
    service takes work), else 503. A port that cannot be bound costs a warning, not the service.
    The port is never shared (no ``SO_REUSEPORT``, which ``eventlet.listen`` sets by default): a
    second run's process on the same port would otherwise bind beside the first, and a scrape
    would read either process's figures.
    """

    def __init__(self) -> None:
        super().__init__()
        self.address: tuple[str, int] | None = None
        self.socket: Any = None
        self._gt: Any = None

    def setup(self) -> None:
        bind = parse_bind(self.container.config.get(METRICS_BIND))
        if bind is None or self.socket is not None:
            return
        try:
            self.socket = eventlet.listen(bind, reuse_port=False)
        except OSError as exc:
            log.warning("metrics server not started on %s:%d: %s", *bind, exc)
            return
        self.address = self.socket.getsockname()[:2]

    def start(self) -> None:
        if self.socket is not None and self._gt is None:
            self._gt = self.container.spawn_managed_thread(self._serve, identifier="metrics-server")
            log.info("metrics on http://%s:%d/metrics", *(self.address or ("?", 0)))

    def _serve(self) -> None:
        wsgi.server(self.socket, self.app, log_output=False, log=None, debug=False)

    def stop(self) -> None:
        if self._gt is not None:
            self._gt.kill()
            self._gt = None
        if self.socket is not None:
            self.socket.close()
            self.socket = None

    kill = stop

    def ready(self) -> bool:
        consumers = [e for e in self.container.extensions if hasattr(e, "consuming")]
        return all(c.consuming for c in consumers)

    def app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            body, content_type = exposition()
            start_response("200 OK", [("Content-Type", content_type)])
            return [body]
        if path == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok\n"]
        if path == "/readyz":
            ready = self.ready()
            start_response("200 OK" if ready else "503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"ready\n" if ready else b"not consuming\n"]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]


class Telemetry(DependencyProvider):
    """Counts and times every worker of its service, makes it a span, and serves the metrics.

    Declared once per service class (``telemetry = Telemetry()``). Per worker it costs two
    clock reads, a counter and a histogram sample, and a context variable set and reset.
    """

    server = MetricsServer()

    def __init__(self) -> None:
        self._children: dict[tuple[str, str], tuple[Any, dict[str, Any]]] = {}
        self._exporter: tracing.OtlpExporter | None = None
        self._flusher: Any = None
        # per running worker: (kind, span, context token, start); weak, so a killed worker leaves nothing
        self._running: weakref.WeakKeyDictionary[Any, tuple[str, tracing.Span, Any, float]] = (
            weakref.WeakKeyDictionary()
        )

    def setup(self) -> None:
        self.service = self.container.service_name
        PROBES.probes[id(self)] = self.probe
        if url := tracing.traces_url():
            self._exporter = tracing.process_exporter = tracing.OtlpExporter(url, self.service)

    def start(self) -> None:
        heap.settle_start_up()
        if self._exporter is not None:
            self._flusher = self.container.spawn_managed_thread(self._flush, identifier="span-export")

    def stop(self) -> None:
        PROBES.probes.pop(id(self), None)
        if self._flusher is not None:
            self._flusher.kill()
            self._flusher = None
        if self._exporter is not None:
            self._exporter.flush()
            if tracing.process_exporter is self._exporter:
                tracing.process_exporter = None

    kill = stop

    def _flush(self) -> None:
        assert self._exporter is not None
        while True:
            eventlet.sleep(tracing.FLUSH_SECONDS)
            self._exporter.flush()

    def _metrics(self, kind: str, name: str) -> tuple[Any, dict[str, Any]]:
        key = (kind, name)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                WORKER_SECONDS.labels(self.service, kind, name),
                {o: WORKERS.labels(self.service, kind, name, o) for o in ("ok", "client_error", "error")},
            )
        return children

    def worker_setup(self, worker_ctx: Any) -> None:
        entrypoint = worker_ctx.entrypoint
        kind = kind_of(entrypoint)
        span = tracing.start(
            worker_ctx.data.get(tracing.TRACEPARENT),
            name=f"{self.service}.{entrypoint.method_name}",
            kind="consumer" if kind == "event" else "server" if kind in ("rpc", "http") else "internal",
        )
        self._running[worker_ctx] = (kind, span, tracing.activate(span), time.perf_counter())

    def worker_result(self, worker_ctx: Any, result: Any = None, exc_info: Any = None) -> None:
        state = self._running.pop(worker_ctx, None)
        if state is None:
            return
        kind, span, token, began = state
        seconds = time.perf_counter() - began
        error = exc_info[1] if exc_info else None
        histogram, counters = self._metrics(kind, worker_ctx.entrypoint.method_name)
        histogram.observe(seconds)
        counters[outcome_of(error)].inc()
        if self._exporter is not None:
            self._exporter.add(span, ended=time.time(), error=None if error is None else repr(error))
        tracing.deactivate(token)

    def probe(self) -> Iterator[Metric]:
        """Readings of the container's extensions that have them (outbox, mail, dead letters, the
        gateway's live backlog)."""
        extensions = [*self.container.dependencies, *self.container.entrypoints]
        dead = sorted({e.dead_queue.name for e in extensions if getattr(e, "dead_queue", None) is not None})
        readers = {id(e): e for e in [*self.container.dependencies, *self.container.subextensions]}
        for extension in readers.values():
            if hasattr(extension, "metrics_probe"):
                yield from extension.metrics_probe()
        if dead:
            yield from self._dead_letter_depths(dead)

    def _dead_letter_depths(self, queues: list[str]) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "helpdesk_dlq_depth",
            "Messages parked in a subscription's dead-letter queue.",
            labels=["service", "queue"],
        )
        with Connection(cfg.required(self.container.config, cfg.AMQP_URI), connect_timeout=2) as conn:
            channel = conn.channel()
            for name in queues:
                try:
                    _name, depth, _consumers = channel.queue_declare(name, passive=True)
                except conn.channel_errors:  # not declared (yet): the broker closed the channel
                    channel = conn.channel()
                    continue
                family.add_metric([self.service, name], depth)
        yield family

    def get_dependency(self, worker_ctx: Any) -> Telemetry:
        return self
