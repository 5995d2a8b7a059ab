"""The gateway's ``GET /metrics`` and its trace context, in a real container on a real RabbitMQ.

Proves that ``/metrics`` answers the Prometheus text format without a token, that requests are
counted by method, route template and status (an unknown path as ``unmatched``), and that a
client's W3C ``traceparent`` reaches the service behind the route (its trace id in that
service's worker), every service of a route that asks several at once (the workspace), and the
gateway's access line; without one, the gateway starts a trace. With an
OTLP endpoint configured, the request's span and its workers' spans reach the collector, linked.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from prometheus_client import REGISTRY

from services.chassis import tracing
from services.chassis.logs import PlainFormatter
from services.chassis.metrics import Telemetry
from services.chassis.rpc import rpc
from tests.component.test_gateway_http import FakeNotifications, FakePermissions, Gateway
from tests.component.test_gateway_http import gateway as gateway

pytestmark = pytest.mark.broker

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACES: list[str | None] = []


class TracedNotifications(FakeNotifications):
    telemetry = Telemetry()

    @rpc
    def list_feed(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        span = tracing.current()
        TRACES.append(span.trace_id if span else None)
        return super().list_feed(query)


TIMELINE: dict[str, Any] = {"results": [], "next_cursor": None}


def _trace_id() -> str | None:
    span = tracing.current()
    return span.trace_id if span else None


class TracedTickets:
    name = "tickets"
    telemetry = Telemetry()

    @rpc
    def get_ticket(self, ticket_id: int, mark_read: bool = True) -> dict[str, Any]:
        TRACES.append(_trace_id())
        return {"id": ticket_id, "version": 1}

    @rpc
    def timeline(self, ticket_id: int, query: dict[str, Any] | None = None) -> dict[str, Any]:
        TRACES.append(_trace_id())
        return TIMELINE


class TracedConversations:
    name = "conversations"
    telemetry = Telemetry()

    @rpc
    def ticket_threads(self, ticket_id: int) -> list[dict[str, Any]]:
        TRACES.append(_trace_id())
        return []


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(PlainFormatter("%(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def traced(gateway: Gateway) -> Iterator[Gateway]:
    TRACES.clear()
    gateway.start(FakePermissions)
    gateway.start(TracedNotifications)
    yield gateway


@pytest.fixture
def access_lines() -> Iterator[Lines]:
    handler = Lines()
    logger = logging.getLogger("gateway.access")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def count(route: str, status: str, method: str = "GET") -> float:
    labels = {"method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value("helpdesk_http_requests_total", labels) or 0.0


def test_metrics_answers_prometheus_text_without_a_token_and_counts_requests_by_route(
    traced: Gateway,
) -> None:
    before_ok = count("/api/v1/notifications", "200")
    before_unmatched = count("unmatched", "404")
    assert traced.get("/api/v1/notifications").status_code == 200
    assert traced.get("/api/v1/notifications").status_code == 200
    assert traced.get("/no/such/path").status_code == 404

    response = traced.get("/metrics", token=None)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert count("/api/v1/notifications", "200") == before_ok + 2
    assert count("unmatched", "404") == before_unmatched + 1
    text = response.text
    assert 'helpdesk_http_requests_total{method="GET",route="/api/v1/notifications",status="200"}' in text
    assert (
        'helpdesk_http_request_seconds_bucket{le="0.05",method="GET",route="/api/v1/notifications"}' in text
    )
    assert 'helpdesk_rpc_client_calls_total{method="list_feed",outcome="ok",service="gateway"' in text
    assert (
        'helpdesk_worker_calls_total{kind="http",name="list_notifications",outcome="ok",service="gateway"}'
        in text
    )
    assert 'helpdesk_live_backlog_entries{service="gateway"}' in text, "the live stream's backlog is read"
    assert 'helpdesk_live_clients{service="gateway"} 0.0' in text


def test_a_clients_traceparent_reaches_the_service_and_the_access_line(
    traced: Gateway, access_lines: Lines
) -> None:
    headers = {"traceparent": f"00-{TRACE_ID}-b7ad6b7169203331-01"}
    assert traced.get("/api/v1/notifications", headers=headers).status_code == 200
    assert TRACES == [TRACE_ID]
    assert any("/api/v1/notifications" in line and f"trace={TRACE_ID}" in line for line in access_lines.lines)


def test_the_workspaces_calls_made_at_once_all_carry_the_clients_trace(traced: Gateway) -> None:
    traced.start(TracedTickets)
    traced.start(TracedConversations)
    headers = {"traceparent": f"00-{TRACE_ID}-b7ad6b7169203331-01"}
    response = traced.get("/api/v1/tickets/7/workspace", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"ticket": {"id": 7, "version": 1}, "threads": [], "timeline": TIMELINE}
    assert TRACES == [TRACE_ID] * 3


def test_without_traceparent_the_gateway_starts_a_trace(traced: Gateway, access_lines: Lines) -> None:
    headers = {"traceparent": "not-a-traceparent"}
    assert traced.get("/api/v1/notifications", headers=headers).status_code == 200
    assert traced.get("/api/v1/notifications").status_code == 200
    first, second = TRACES
    assert first and second and len({first, second, TRACE_ID}) == 3
    assert any(f"trace={first}" in line for line in access_lines.lines)


class _Collector(BaseHTTPRequestHandler):
    spans: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        for resource in body["resourceSpans"]:
            for scope in resource["scopeSpans"]:
                _Collector.spans.extend(scope["spans"])
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    _Collector.spans = []
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    yield _Collector.spans
    server.shutdown()
    server.server_close()


def test_with_an_otlp_endpoint_the_request_and_its_workers_spans_are_exported_linked(
    collector: list[dict[str, Any]], gateway: Gateway
) -> None:
    TRACES.clear()
    gateway.start(FakePermissions)
    gateway.start(TracedNotifications)
    headers = {"traceparent": f"00-{TRACE_ID}-b7ad6b7169203331-01"}
    assert gateway.get("/api/v1/notifications", headers=headers).status_code == 200
    deadline = time.monotonic() + 10
    while len([s for s in collector if s["traceId"] == TRACE_ID]) < 3:
        assert time.monotonic() < deadline, collector
        time.sleep(0.1)
    spans = {s["name"]: s for s in collector if s["traceId"] == TRACE_ID}
    request, route, feed = (
        spans["gateway.http"],
        spans["gateway.list_notifications"],
        spans["notifications.list_feed"],
    )
    assert request["parentSpanId"] == "b7ad6b7169203331"
    assert route["parentSpanId"] == request["spanId"] and feed["parentSpanId"] == route["spanId"]
    attributes = {a["key"]: a["value"] for a in request["attributes"]}
    assert attributes["http.route"] == {"stringValue": "/api/v1/notifications"}
    assert attributes["http.response.status_code"] == {"intValue": "200"}
